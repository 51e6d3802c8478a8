package order

import "github.com/jetsource/jetsource/domain/internal/field"

// Place is the data of the place command: none.
type Place struct{}

// AddItem is the data of the add_item command.
type AddItem struct {
	ItemID   string `json:"item_id"`
	Quantity int64  `json:"quantity"`
}

// Validate checks the item id and that the quantity is positive.
func (c AddItem) Validate() error { return checkLine(c.ItemID, c.Quantity) }

// RemoveItem is the data of the remove_item command.
type RemoveItem struct {
	ItemID string `json:"item_id"`
}

// Validate checks the item id.
func (c RemoveItem) Validate() error { return field.ID("item_id", c.ItemID) }

// ChangeQuantity is the data of the change_quantity command.
type ChangeQuantity struct {
	ItemID   string `json:"item_id"`
	Quantity int64  `json:"quantity"`
}

// Validate checks the item id and that the quantity is positive.
func (c ChangeQuantity) Validate() error { return checkLine(c.ItemID, c.Quantity) }

func checkLine(itemID string, quantity int64) error {
	if err := field.ID("item_id", itemID); err != nil {
		return err
	}
	return field.Positive("quantity", quantity)
}
