package order

import (
	"slices"

	"github.com/jetsource/jetsource/aggregate"
)

// Type is the aggregate type, the <type> of events.order.<id> and
// cmd.order.<command>.
const Type = "order"

// MaxItems is the most distinct items one order may hold. It bounds the size
// of the state that every command loads and every snapshot stores.
const MaxItems = 1000

// Item is one line of an order.
type Item struct {
	ItemID   string `json:"item_id"`
	Quantity int64  `json:"quantity"`
}

// State is an order as its events left it: its lines in the order they were
// added.
type State struct {
	Items []Item `json:"items"`
}

// index returns the position of item id in s.Items, or -1.
func (s State) index(id string) int {
	return slices.IndexFunc(s.Items, func(i Item) bool { return i.ItemID == id })
}

// Definition returns the order aggregate with a registry of its own.
func Definition() aggregate.Definition[State] {
	return aggregate.Definition[State]{
		Type:   Type,
		Events: Events(),
		Evolve: Evolve,
		Commands: map[string]aggregate.Command[State]{
			"place":           aggregate.Create[State](place),
			"add_item":        aggregate.Handle(addItem),
			"remove_item":     aggregate.Handle(removeItem),
			"change_quantity": aggregate.Handle(changeQuantity),
		},
	}
}

func place(Place) ([]any, error) {
	return []any{OrderPlaced{}}, nil
}

func addItem(s State, c AddItem) ([]any, error) {
	if s.index(c.ItemID) >= 0 {
		return nil, aggregate.Rejected("item %s is already in the order: use change_quantity to change its quantity", c.ItemID)
	}
	if len(s.Items) >= MaxItems {
		return nil, aggregate.Rejected("the order already holds %d items, the most an order may hold", MaxItems)
	}
	return []any{OrderItemAdded(c)}, nil
}

func removeItem(s State, c RemoveItem) ([]any, error) {
	if s.index(c.ItemID) < 0 {
		return nil, aggregate.Rejected("unknown item %s: it is not in the order", c.ItemID)
	}
	return []any{OrderItemRemoved(c)}, nil
}

func changeQuantity(s State, c ChangeQuantity) ([]any, error) {
	if s.index(c.ItemID) < 0 {
		return nil, aggregate.Rejected("unknown item %s: it is not in the order, add it with add_item", c.ItemID)
	}
	return []any{OrderItemQuantityChanged(c)}, nil
}

// Evolve folds one event into the state. It is pure and total: events of
// other types leave the state as it was, and it never writes to the Items
// array of the state it was given, so earlier states stay as they were.
func Evolve(s State, event any) State {
	switch e := event.(type) {
	case OrderPlaced:
		// An order is placed empty: nothing to change.
	case OrderItemAdded:
		s.Items = append(slices.Clip(s.Items), Item(e))
	case OrderItemRemoved:
		if i := s.index(e.ItemID); i >= 0 {
			s.Items = slices.Delete(slices.Clone(s.Items), i, i+1)
		}
	case OrderItemQuantityChanged:
		if i := s.index(e.ItemID); i >= 0 {
			s.Items = slices.Clone(s.Items)
			s.Items[i].Quantity = e.Quantity
		}
	}
	return s
}
