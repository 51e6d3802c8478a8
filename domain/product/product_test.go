package product_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/domain/product"
)

func TestProductCommands(t *testing.T) {
	def := product.Definition()
	require.NoError(t, def.Validate())
	s := product.State{Name: "pen", Stock: 5}
	cases := []struct {
		name, command, data string
		state               product.State
		exists              bool
		want                []any
		err                 error
		msg                 string
	}{
		{"register", "register", `{"name":"pen"}`, product.State{}, false, []any{product.ProductRegistered{Name: "pen"}}, nil, ""},
		{"register twice", "register", `{"name":"pen"}`, s, true, nil, aggregate.ErrExists, "exists"},
		{"register nameless", "register", `{"name":""}`, product.State{}, false, nil, aggregate.ErrInvalid, "name is required"},
		{"receive", "receive_stock", `{"quantity":3}`, s, true, []any{product.StockReceived{Quantity: 3}}, nil, ""},
		{"receive zero", "receive_stock", `{"quantity":0}`, s, true, nil, aggregate.ErrInvalid, "quantity must be a positive integer"},
		{"receive overflow", "receive_stock", `{"quantity":9223372036854775807}`, s, true, nil, aggregate.ErrRejected, "overflow"},
		{"remove", "remove_stock", `{"quantity":5}`, s, true, []any{product.StockRemoved{Quantity: 5}}, nil, ""},
		{"remove too much", "remove_stock", `{"quantity":6}`, s, true, nil, aggregate.ErrRejected, "insufficient stock: 5 in stock, 6 to remove"},
		{"remove on missing", "remove_stock", `{"quantity":1}`, product.State{}, false, nil, aggregate.ErrNotFound, "not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec, err := def.Decide(c.command, c.state, c.exists, json.RawMessage(c.data))
			if c.err != nil {
				require.ErrorIs(t, err, c.err)
				assert.Contains(t, err.Error(), c.msg)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, dec.Events)
		})
	}
}

func TestProductReplayAndRoundTrip(t *testing.T) {
	reg := product.Events()
	var s product.State
	for _, e := range []any{product.ProductRegistered{Name: "pen"}, product.StockReceived{Quantity: 10}, product.StockRemoved{Quantity: 4}} {
		enc, err := reg.Encode(e)
		require.NoError(t, err)
		back, err := reg.Decode(enc.Type, enc.Schema, enc.Data)
		require.NoError(t, err)
		s = product.Evolve(s, back)
	}
	assert.Equal(t, product.State{Name: "pen", Stock: 6}, s)
}
