// Package order is the sample order aggregate of the seed talk: an order
// table whose rows are items and quantities, rebuilt from its events.
//
// Commands: place, add_item {item_id, quantity}, remove_item {item_id},
// change_quantity {item_id, quantity}. Events: OrderPlaced, OrderItemAdded,
// OrderItemRemoved, OrderItemQuantityChanged. Invariants: quantities are
// positive, an item is in the order at most once (change its quantity
// instead), only items in the order can be removed or changed, and an order
// holds at most MaxItems distinct items.
package order

import (
	"slices"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/codec"
	"github.com/jetsource/jetsource/domain/text"
)

// Type is the aggregate type.
const Type = "order"

// MaxItems is the most distinct items one order may hold.
const MaxItems = 1000

// Item is one line of an order.
type Item struct {
	ItemID   string `json:"item_id"`
	Quantity int64  `json:"quantity"`
}

// State is an order's state: its items in the order they were added.
type State struct {
	Items []Item `json:"items"`
}

func (s State) find(id string) int {
	return slices.IndexFunc(s.Items, func(i Item) bool { return i.ItemID == id })
}

// OrderPlaced records that the order was placed.
type OrderPlaced struct{}

// OrderItemAdded records an item added with its quantity.
type OrderItemAdded struct {
	ItemID   string `json:"item_id"`
	Quantity int64  `json:"quantity"`
}

// OrderItemRemoved records an item removed.
type OrderItemRemoved struct {
	ItemID string `json:"item_id"`
}

// OrderItemQuantityChanged records an item's new quantity.
type OrderItemQuantityChanged struct {
	ItemID   string `json:"item_id"`
	Quantity int64  `json:"quantity"`
}

// Place is the place command; it has no fields.
type Place struct{}

// AddItem is the add_item command.
type AddItem struct {
	ItemID   string `json:"item_id"`
	Quantity int64  `json:"quantity"`
}

// Validate checks the item id and quantity.
func (c AddItem) Validate() error {
	if err := text.CheckID("item_id", c.ItemID); err != nil {
		return err
	}
	return text.CheckPositive("quantity", c.Quantity)
}

// RemoveItem is the remove_item command.
type RemoveItem struct {
	ItemID string `json:"item_id"`
}

// Validate checks the item id.
func (c RemoveItem) Validate() error { return text.CheckID("item_id", c.ItemID) }

// ChangeQuantity is the change_quantity command.
type ChangeQuantity struct {
	ItemID   string `json:"item_id"`
	Quantity int64  `json:"quantity"`
}

// Validate checks the item id and quantity.
func (c ChangeQuantity) Validate() error {
	if err := text.CheckID("item_id", c.ItemID); err != nil {
		return err
	}
	return text.CheckPositive("quantity", c.Quantity)
}

// Events returns a registry of the order's event types.
func Events() *codec.Registry {
	r := codec.NewRegistry()
	codec.Register[OrderPlaced](r, "OrderPlaced")
	codec.Register[OrderItemAdded](r, "OrderItemAdded")
	codec.Register[OrderItemRemoved](r, "OrderItemRemoved")
	codec.Register[OrderItemQuantityChanged](r, "OrderItemQuantityChanged")
	return r
}

// Definition returns the order aggregate.
func Definition() aggregate.Definition[State] {
	return aggregate.Definition[State]{
		Type:   Type,
		Events: Events(),
		Evolve: Evolve,
		Commands: map[string]aggregate.Command[State]{
			"place": aggregate.Create[State](func(Place) ([]any, error) { return []any{OrderPlaced{}}, nil }),
			"add_item": aggregate.Handle(func(s State, c AddItem) ([]any, error) {
				if s.find(c.ItemID) >= 0 {
					return nil, aggregate.Rejected("item %s is already in the order: use change_quantity", c.ItemID)
				}
				if len(s.Items) >= MaxItems {
					return nil, aggregate.Rejected("an order holds at most %d items", MaxItems)
				}
				return []any{OrderItemAdded(c)}, nil
			}),
			"remove_item": aggregate.Handle(func(s State, c RemoveItem) ([]any, error) {
				if s.find(c.ItemID) < 0 {
					return nil, aggregate.Rejected("unknown item %s: it is not in the order", c.ItemID)
				}
				return []any{OrderItemRemoved(c)}, nil
			}),
			"change_quantity": aggregate.Handle(func(s State, c ChangeQuantity) ([]any, error) {
				if s.find(c.ItemID) < 0 {
					return nil, aggregate.Rejected("unknown item %s: it is not in the order", c.ItemID)
				}
				return []any{OrderItemQuantityChanged(c)}, nil
			}),
		},
	}
}

// Evolve folds one event into the state. It never shares the Items slice
// with the previous state, so older states stay as they were.
func Evolve(s State, event any) State {
	switch e := event.(type) {
	case OrderItemAdded:
		s.Items = append(slices.Clip(s.Items), Item(e))
	case OrderItemRemoved:
		if i := s.find(e.ItemID); i >= 0 {
			s.Items = slices.Delete(slices.Clone(s.Items), i, i+1)
		}
	case OrderItemQuantityChanged:
		if i := s.find(e.ItemID); i >= 0 {
			s.Items = slices.Clone(s.Items)
			s.Items[i].Quantity = e.Quantity
		}
	}
	return s
}
