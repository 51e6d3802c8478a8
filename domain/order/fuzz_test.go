package order_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/domain/order"
)

// FuzzDecideOrder feeds arbitrary bytes as the data of every order command,
// against an order holding a few items: a command never panics, and either
// fails with ErrInvalid or ErrRejected or decides events that keep the
// invariants.
func FuzzDecideOrder(f *testing.F) {
	for _, data := range []string{``, `null`, `{}`, `[]`, `"a"`, `{"item_id":"a","quantity":1}`, `{"item_id":"b","quantity":2}`,
		`{"item_id":"a"}`, `{"item_id":"a.b","quantity":1}`, `{"item_id":"a","quantity":-1}`, `{"item_id":"a","quantity":1.5}`,
		`{"item_id":"a","quantity":"1"}`, `{"item_id":"a","quantity":1e30}`, `{"item_id":"a","quantity":99999999999999999999}`,
		`{"item_id":"","quantity":1}`, `{"item_id":"a","quantity":1,"x":0}`, "{\"item_id\":\"\xff\"}"} {
		f.Add([]byte(data))
	}
	def := order.Definition()
	f.Fuzz(func(t *testing.T, data []byte) {
		for name := range def.Commands {
			state := order.State{}
			exists := !def.Creates(name)
			if exists {
				state.Items = []order.Item{{ItemID: "a", Quantity: 1}, {ItemID: "Z_-9", Quantity: 2}}
			}
			dec, err := def.Decide(name, state, exists, json.RawMessage(data))
			if err != nil {
				require.True(t, errors.Is(err, aggregate.ErrInvalid) || errors.Is(err, aggregate.ErrRejected), "%s: unexpected error %v", name, err)
				require.Empty(t, dec.Events)
				continue
			}
			require.Len(t, dec.Events, 1, name)
			next := state
			for _, e := range dec.Events {
				_, encErr := def.Events.Encode(e)
				require.NoError(t, encErr, "%s decided an unregistered event %T", name, e)
				next = def.Evolve(next, e)
			}
			seen := map[string]bool{}
			for _, it := range next.Items {
				require.NoError(t, order.RemoveItem{ItemID: it.ItemID}.Validate())
				require.Positive(t, it.Quantity)
				require.False(t, seen[it.ItemID], "%s: item %s is in the order twice", name, it.ItemID)
				seen[it.ItemID] = true
			}
			require.LessOrEqual(t, len(next.Items), order.MaxItems)
		}
	})
}
