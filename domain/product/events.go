package product

import "github.com/jetsource/jetsource/codec"

// ProductRegistered records a new product, with no stock.
type ProductRegistered struct {
	Name string `json:"name"`
}

// StockReceived records a positive number of units coming into stock.
type StockReceived struct {
	Quantity int64 `json:"quantity"`
}

// StockRemoved records a positive number of units going out of stock.
type StockRemoved struct {
	Quantity int64 `json:"quantity"`
}

// Events returns a new registry of the product's event types, each at schema
// version 1.
func Events() *codec.Registry {
	r := codec.NewRegistry()
	codec.Register[ProductRegistered](r, "ProductRegistered")
	codec.Register[StockReceived](r, "StockReceived")
	codec.Register[StockRemoved](r, "StockRemoved")
	return r
}
