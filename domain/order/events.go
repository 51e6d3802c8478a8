package order

import "github.com/jetsource/jetsource/codec"

// OrderPlaced records that the order was placed, empty.
type OrderPlaced struct{}

// OrderItemAdded records a new line: an item and its positive quantity.
type OrderItemAdded struct {
	ItemID   string `json:"item_id"`
	Quantity int64  `json:"quantity"`
}

// OrderItemRemoved records that an item's line was removed.
type OrderItemRemoved struct {
	ItemID string `json:"item_id"`
}

// OrderItemQuantityChanged records an item's new, positive quantity.
type OrderItemQuantityChanged struct {
	ItemID   string `json:"item_id"`
	Quantity int64  `json:"quantity"`
}

// Events returns a new registry of the order's event types, each at schema
// version 1.
func Events() *codec.Registry {
	r := codec.NewRegistry()
	codec.Register[OrderPlaced](r, "OrderPlaced")
	codec.Register[OrderItemAdded](r, "OrderItemAdded")
	codec.Register[OrderItemRemoved](r, "OrderItemRemoved")
	codec.Register[OrderItemQuantityChanged](r, "OrderItemQuantityChanged")
	return r
}
