package product

import (
	"math"

	"github.com/jetsource/jetsource/aggregate"
)

// Type is the aggregate type, the <type> of events.product.<id> and
// cmd.product.<command>.
const Type = "product"

// State is a product as its events left it.
type State struct {
	Name  string `json:"name"`
	Stock int64  `json:"stock"`
}

// Definition returns the product aggregate with a registry of its own.
func Definition() aggregate.Definition[State] {
	return aggregate.Definition[State]{
		Type:   Type,
		Events: Events(),
		Evolve: Evolve,
		Commands: map[string]aggregate.Command[State]{
			"register":      aggregate.Create[State](register),
			"receive_stock": aggregate.Handle(receiveStock),
			"remove_stock":  aggregate.Handle(removeStock),
		},
	}
}

func register(c Register) ([]any, error) {
	return []any{ProductRegistered(c)}, nil
}

func receiveStock(s State, c ReceiveStock) ([]any, error) {
	if s.Stock > math.MaxInt64-c.Quantity {
		return nil, aggregate.Rejected("receiving %d would overflow the stock %d (at most %d)", c.Quantity, s.Stock, int64(math.MaxInt64))
	}
	return []any{StockReceived(c)}, nil
}

func removeStock(s State, c RemoveStock) ([]any, error) {
	if c.Quantity > s.Stock {
		return nil, aggregate.Rejected("insufficient stock: %d in stock, %d to remove", s.Stock, c.Quantity)
	}
	return []any{StockRemoved(c)}, nil
}

// Evolve folds one event into the state. It is pure and total: events of
// other types leave the state as it was.
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
