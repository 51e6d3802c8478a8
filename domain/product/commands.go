package product

import "github.com/jetsource/jetsource/domain/internal/field"

// MaxNameLength is the longest product name accepted, in characters.
const MaxNameLength = 200

// Register is the data of the register command.
type Register struct {
	Name string `json:"name"`
}

// Validate checks the product's name.
func (c Register) Validate() error { return field.Name("name", c.Name, MaxNameLength) }

// ReceiveStock is the data of the receive_stock command.
type ReceiveStock struct {
	Quantity int64 `json:"quantity"`
}

// Validate checks that the quantity is positive.
func (c ReceiveStock) Validate() error { return field.Positive("quantity", c.Quantity) }

// RemoveStock is the data of the remove_stock command.
type RemoveStock struct {
	Quantity int64 `json:"quantity"`
}

// Validate checks that the quantity is positive.
func (c RemoveStock) Validate() error { return field.Positive("quantity", c.Quantity) }
