package product_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/domain/product"
)

// decideCase is one command run through Definition().Decide: either the
// events it must decide or the error it must wrap and a part of its message.
type decideCase struct {
	name    string
	command string
	state   product.State
	exists  bool
	data    string
	want    []any
	err     error
	msg     string
}

func runDecideCases(t *testing.T, cases []decideCase) {
	t.Helper()
	def := product.Definition()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec, err := def.Decide(c.command, c.state, c.exists, json.RawMessage(c.data))
			if c.err != nil {
				require.ErrorIs(t, err, c.err)
				assert.Contains(t, err.Error(), c.msg)
				assert.Empty(t, dec.Events)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, dec.Events)
			assert.Empty(t, dec.Unique, "no product command reserves a unique key")
		})
	}
}

var pen = product.State{Name: "pen", Stock: 5}

func TestDefinitionIsValidAndFresh(t *testing.T) {
	a, b := product.Definition(), product.Definition()
	require.NoError(t, a.Validate())
	assert.Equal(t, product.Type, a.Type)
	assert.NotSame(t, a.Events, b.Events, "each Definition builds its own registry")
	assert.True(t, a.Creates("register"))
	assert.False(t, a.Creates("receive_stock"))
	assert.False(t, a.Creates("remove_stock"))
}

func TestRegister(t *testing.T) {
	name200 := strings.Repeat("ü", product.MaxNameLength)
	runDecideCases(t, []decideCase{
		{name: "registers", command: "register", data: `{"name":"Fountain pen, blue"}`, want: []any{product.ProductRegistered{Name: "Fountain pen, blue"}}},
		{name: "name of the longest length", command: "register", data: `{"name":"` + name200 + `"}`, want: []any{product.ProductRegistered{Name: name200}}},
		{name: "refuses an existing product", command: "register", state: pen, exists: true, data: `{"name":"pen"}`, err: aggregate.ErrExists, msg: "already exists"},
		{name: "refuses a missing name", command: "register", data: `{}`, err: aggregate.ErrInvalid, msg: "name is required"},
		{name: "refuses an empty name", command: "register", data: `{"name":""}`, err: aggregate.ErrInvalid, msg: "name is required"},
		{name: "refuses a blank name", command: "register", data: `{"name":"\t"}`, err: aggregate.ErrInvalid, msg: "name must not be blank"},
		{name: "refuses a long name", command: "register", data: `{"name":"` + name200 + `x"}`, err: aggregate.ErrInvalid, msg: "name must be at most 200 characters, got 201"},
		{name: "refuses a control character", command: "register", data: `{"name":"pen\u001b[31m"}`, err: aggregate.ErrInvalid, msg: "name must not contain control characters"},
		{name: "refuses a number", command: "register", data: `{"name":1}`, err: aggregate.ErrInvalid, msg: `field "name" must be a string`},
		{name: "refuses an unknown field", command: "register", data: `{"name":"pen","stock":5}`, err: aggregate.ErrInvalid, msg: `unknown field "stock"`},
		{name: "refuses an array", command: "register", data: `["pen"]`, err: aggregate.ErrInvalid, msg: "data must be a JSON object"},
		{name: "refuses malformed JSON", command: "register", data: `{"name":"pen"`, err: aggregate.ErrInvalid, msg: "data: "},
	})
}

// quantityCases are the malformed and out-of-range quantities every stock
// command refuses as invalid.
func quantityCases(command string) []decideCase {
	bad := []struct{ name, data, msg string }{
		{"zero", `{"quantity":0}`, "quantity must be a positive integer, got 0"},
		{"negative", `{"quantity":-1}`, "quantity must be a positive integer, got -1"},
		{"missing", `{}`, "quantity must be a positive integer, got 0"},
		{"absent data", ``, "quantity must be a positive integer, got 0"},
		{"fraction", `{"quantity":1.5}`, `field "quantity" must be a whole number within range, got JSON number 1.5`},
		{"string", `{"quantity":"100"}`, `field "quantity" must be a whole number within range, got JSON string`},
		{"exponent", `{"quantity":1e30}`, `field "quantity" must be a whole number within range`},
		{"huge", `{"quantity":123456789012345678901234567890}`, `field "quantity" must be a whole number within range`},
		{"unknown field", `{"quantity":1,"reason":"x"}`, `unknown field "reason"`},
		{"array", `[1]`, "data must be a JSON object"},
		{"string data", `"1"`, "data must be a JSON object"},
		{"malformed JSON", `{quantity:1}`, "data: "},
	}
	cases := make([]decideCase, len(bad))
	for i, b := range bad {
		cases[i] = decideCase{name: "refuses " + b.name, command: command, state: pen, exists: true, data: b.data, err: aggregate.ErrInvalid, msg: b.msg}
	}
	return cases
}

func TestReceiveStock(t *testing.T) {
	runDecideCases(t, append([]decideCase{
		{name: "receives", command: "receive_stock", state: pen, exists: true, data: `{"quantity":3}`, want: []any{product.StockReceived{Quantity: 3}}},
		{name: "receives up to the largest stock", command: "receive_stock", state: pen, exists: true, data: fmt.Sprintf(`{"quantity":%d}`, int64(math.MaxInt64-5)), want: []any{product.StockReceived{Quantity: math.MaxInt64 - 5}}},
		{name: "refuses a missing product", command: "receive_stock", data: `{"quantity":1}`, err: aggregate.ErrNotFound, msg: "not found"},
		{name: "refuses an overflow", command: "receive_stock", state: pen, exists: true, data: `{"quantity":9223372036854775807}`, err: aggregate.ErrRejected, msg: "receiving 9223372036854775807 would overflow the stock 5"},
	}, quantityCases("receive_stock")...))
}

func TestRemoveStock(t *testing.T) {
	runDecideCases(t, append([]decideCase{
		{name: "removes", command: "remove_stock", state: pen, exists: true, data: `{"quantity":2}`, want: []any{product.StockRemoved{Quantity: 2}}},
		{name: "removes every unit", command: "remove_stock", state: pen, exists: true, data: `{"quantity":5}`, want: []any{product.StockRemoved{Quantity: 5}}},
		{name: "refuses a missing product", command: "remove_stock", data: `{"quantity":1}`, err: aggregate.ErrNotFound, msg: "not found"},
		{name: "refuses more than in stock", command: "remove_stock", state: pen, exists: true, data: `{"quantity":6}`, err: aggregate.ErrRejected, msg: "insufficient stock: 5 in stock, 6 to remove"},
		{name: "refuses an empty stock", command: "remove_stock", state: product.State{Name: "pen"}, exists: true, data: `{"quantity":1}`, err: aggregate.ErrRejected, msg: "insufficient stock: 0 in stock, 1 to remove"},
	}, quantityCases("remove_stock")...))
}

func TestUnknownCommand(t *testing.T) {
	_, err := product.Definition().Decide("discontinue", pen, true, nil)
	require.ErrorIs(t, err, aggregate.ErrUnknownCommand)
	assert.Contains(t, err.Error(), `product has no command "discontinue"`)
}

func TestEvolveReplaysEvents(t *testing.T) {
	cases := []struct {
		name   string
		events []any
		want   product.State
	}{
		{"nothing", nil, product.State{}},
		{"registered", []any{product.ProductRegistered{Name: "pen"}}, product.State{Name: "pen"}},
		{"stock in and out", []any{product.ProductRegistered{Name: "pen"}, product.StockReceived{Quantity: 10}, product.StockRemoved{Quantity: 4}, product.StockReceived{Quantity: 1}}, product.State{Name: "pen", Stock: 7}},
		{"unknown events are ignored", []any{product.ProductRegistered{Name: "pen"}, struct{}{}, nil}, product.State{Name: "pen"}},
	}
	def := product.Definition()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := def.New()
			for _, e := range c.events {
				s = def.Evolve(s, e)
			}
			assert.Equal(t, c.want, s)
		})
	}
}

func TestEventsRoundTripThroughTheRegistry(t *testing.T) {
	reg := product.Definition().Events
	cases := []struct {
		event any
		name  string
		json  string
	}{
		{product.ProductRegistered{Name: "pen"}, "ProductRegistered", `{"name":"pen"}`},
		{product.StockReceived{Quantity: 10}, "StockReceived", `{"quantity":10}`},
		{product.StockRemoved{Quantity: 4}, "StockRemoved", `{"quantity":4}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			enc, err := reg.Encode(c.event)
			require.NoError(t, err)
			assert.Equal(t, c.name, enc.Type)
			assert.Equal(t, 1, enc.Schema)
			assert.JSONEq(t, c.json, string(enc.Data))
			back, err := reg.Decode(enc.Type, enc.Schema, enc.Data)
			require.NoError(t, err)
			assert.Equal(t, c.event, back)
		})
	}
}
