package order_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/domain/order"
)

func run(t *testing.T, steps [][2]string) (order.State, []string) {
	t.Helper()
	def := order.Definition()
	var s order.State
	var names []string
	exists := false
	for _, st := range steps {
		dec, err := def.Decide(st[0], s, exists, json.RawMessage(st[1]))
		require.NoError(t, err, st[0])
		for _, e := range dec.Events {
			names = append(names, def.Events.Name(e))
			s = def.Evolve(s, e)
		}
		exists = true
	}
	return s, names
}

func TestSeedOrderExample(t *testing.T) {
	s, names := run(t, [][2]string{
		{"place", ``},
		{"add_item", `{"item_id":"9a37","quantity":3}`},
		{"add_item", `{"item_id":"c52a","quantity":1}`},
		{"remove_item", `{"item_id":"c52a"}`},
		{"add_item", `{"item_id":"a974","quantity":10}`},
		{"change_quantity", `{"item_id":"9a37","quantity":5}`},
	})
	assert.Equal(t, []string{"OrderPlaced", "OrderItemAdded", "OrderItemAdded", "OrderItemRemoved", "OrderItemAdded", "OrderItemQuantityChanged"}, names)
	assert.Equal(t, []order.Item{{ItemID: "9a37", Quantity: 5}, {ItemID: "a974", Quantity: 10}}, s.Items)
}

func TestOrderCommandErrors(t *testing.T) {
	def := order.Definition()
	s := order.State{Items: []order.Item{{ItemID: "a", Quantity: 1}}}
	cases := []struct {
		name, command, data string
		exists              bool
		err                 error
		msg                 string
	}{
		{"place twice", "place", ``, true, aggregate.ErrExists, "exists"},
		{"add to missing order", "add_item", `{"item_id":"b","quantity":1}`, false, aggregate.ErrNotFound, "not found"},
		{"add duplicate", "add_item", `{"item_id":"a","quantity":1}`, true, aggregate.ErrRejected, "use change_quantity"},
		{"add bad id", "add_item", `{"item_id":"a.b","quantity":1}`, true, aggregate.ErrInvalid, "item_id must match"},
		{"add zero", "add_item", `{"item_id":"b","quantity":0}`, true, aggregate.ErrInvalid, "quantity must be a positive integer"},
		{"add fraction", "add_item", `{"item_id":"b","quantity":2.5}`, true, aggregate.ErrInvalid, `field "quantity"`},
		{"remove unknown", "remove_item", `{"item_id":"zz"}`, true, aggregate.ErrRejected, "unknown item zz"},
		{"change unknown", "change_quantity", `{"item_id":"zz","quantity":2}`, true, aggregate.ErrRejected, "unknown item zz"},
		{"change negative", "change_quantity", `{"item_id":"a","quantity":-2}`, true, aggregate.ErrInvalid, "got -2"},
		{"place with data", "place", `{"x":1}`, false, aggregate.ErrInvalid, `unknown field "x"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := def.Decide(c.command, s, c.exists, json.RawMessage(c.data))
			require.ErrorIs(t, err, c.err)
			assert.Contains(t, err.Error(), c.msg)
		})
	}
}

func TestOrderItemCap(t *testing.T) {
	def := order.Definition()
	s := order.State{Items: make([]order.Item, order.MaxItems)}
	_, err := def.Decide("add_item", s, true, json.RawMessage(`{"item_id":"new","quantity":1}`))
	require.ErrorIs(t, err, aggregate.ErrRejected)
}

func TestEvolveDoesNotAlterEarlierStates(t *testing.T) {
	s1 := order.Evolve(order.State{}, order.OrderItemAdded{ItemID: "a", Quantity: 1})
	s2 := order.Evolve(s1, order.OrderItemQuantityChanged{ItemID: "a", Quantity: 9})
	s3 := order.Evolve(s2, order.OrderItemRemoved{ItemID: "a"})
	assert.Equal(t, int64(1), s1.Items[0].Quantity)
	assert.Equal(t, int64(9), s2.Items[0].Quantity)
	assert.Empty(t, s3.Items)
}

func TestOrderEventsRoundTrip(t *testing.T) {
	reg := order.Events()
	for _, e := range []any{order.OrderPlaced{}, order.OrderItemAdded{ItemID: "a", Quantity: 2}, order.OrderItemRemoved{ItemID: "a"}, order.OrderItemQuantityChanged{ItemID: "a", Quantity: 3}} {
		enc, err := reg.Encode(e)
		require.NoError(t, err)
		back, err := reg.Decode(enc.Type, enc.Schema, enc.Data)
		require.NoError(t, err)
		assert.Equal(t, e, back)
	}
}

func FuzzOrderDecide(f *testing.F) {
	for _, s := range []string{`{"item_id":"a","quantity":1}`, `{"item_id":"a.b"}`, `[]`, ``, `{"quantity":-1}`} {
		f.Add(s)
	}
	def := order.Definition()
	f.Fuzz(func(t *testing.T, data string) {
		s := order.State{Items: []order.Item{{ItemID: "a", Quantity: 1}}}
		for name := range def.Commands {
			dec, err := def.Decide(name, s, name != "place", json.RawMessage(data))
			if err != nil {
				require.True(t, errors.Is(err, aggregate.ErrInvalid) || errors.Is(err, aggregate.ErrRejected), "%v", err)
				continue
			}
			next := s
			for _, e := range dec.Events {
				next = def.Evolve(next, e)
			}
			for _, it := range next.Items {
				require.Positive(t, it.Quantity)
			}
		}
	})
}
