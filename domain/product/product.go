// Package product is the sample product aggregate: a named product and its
// stock.
//
// Commands: register {name}, receive_stock {quantity}, remove_stock
// {quantity}. Events: ProductRegistered, StockReceived, StockRemoved.
// Invariants: quantities are positive, stock never goes negative or
// overflows.
package product

import (
	"math"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/codec"
	"github.com/jetsource/jetsource/domain/text"
)

// Type is the aggregate type.
const Type = "product"

// MaxNameLength is the longest product name accepted, in characters.
const MaxNameLength = 200

// State is a product's state.
type State struct {
	Name  string `json:"name"`
	Stock int64  `json:"stock"`
}

// ProductRegistered records a new product.
type ProductRegistered struct {
	Name string `json:"name"`
}

// StockReceived records stock coming in.
type StockReceived struct {
	Quantity int64 `json:"quantity"`
}

// StockRemoved records stock going out.
type StockRemoved struct {
	Quantity int64 `json:"quantity"`
}

// Register is the register command.
type Register struct {
	Name string `json:"name"`
}

// Validate checks the name.
func (c Register) Validate() error { return text.CheckName("name", c.Name, MaxNameLength) }

// ReceiveStock is the receive_stock command.
type ReceiveStock struct {
	Quantity int64 `json:"quantity"`
}

// Validate checks the quantity.
func (c ReceiveStock) Validate() error { return text.CheckPositive("quantity", c.Quantity) }

// RemoveStock is the remove_stock command.
type RemoveStock struct {
	Quantity int64 `json:"quantity"`
}

// Validate checks the quantity.
func (c RemoveStock) Validate() error { return text.CheckPositive("quantity", c.Quantity) }

// Events returns a registry of the product's event types.
func Events() *codec.Registry {
	r := codec.NewRegistry()
	codec.Register[ProductRegistered](r, "ProductRegistered")
	codec.Register[StockReceived](r, "StockReceived")
	codec.Register[StockRemoved](r, "StockRemoved")
	return r
}

// Definition returns the product aggregate.
func Definition() aggregate.Definition[State] {
	return aggregate.Definition[State]{
		Type:   Type,
		Events: Events(),
		Evolve: Evolve,
		Commands: map[string]aggregate.Command[State]{
			"register": aggregate.Create[State](func(c Register) ([]any, error) {
				return []any{ProductRegistered(c)}, nil
			}),
			"receive_stock": aggregate.Handle(func(s State, c ReceiveStock) ([]any, error) {
				if s.Stock > math.MaxInt64-c.Quantity {
					return nil, aggregate.Rejected("receiving %d would overflow the stock %d", c.Quantity, s.Stock)
				}
				return []any{StockReceived(c)}, nil
			}),
			"remove_stock": aggregate.Handle(func(s State, c RemoveStock) ([]any, error) {
				if c.Quantity > s.Stock {
					return nil, aggregate.Rejected("insufficient stock: %d in stock, %d to remove", s.Stock, c.Quantity)
				}
				return []any{StockRemoved(c)}, nil
			}),
		},
	}
}

// Evolve folds one event into the state.
func Evolve(s State, event any) State {
	switch e := event.(type) {
	case ProductRegistered:
		s.Name = e.Name
	case StockReceived:
		s.Stock += e.Quantity
	case StockRemoved:
		s.Stock -= e.Quantity
	}
	return s
}
