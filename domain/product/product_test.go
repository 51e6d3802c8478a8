package product_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/domain/product"
	"github.com/jetsource/jetsource/testkit"
)

// pen is the history of a product with 5 in stock.
var pen = []any{product.ProductRegistered{Name: "pen"}, product.StockReceived{Quantity: 5}}

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
	testkit.RunAggregateCases(t, product.Definition(), []testkit.AggregateCase{
		{Name: "registers", Command: "register", Data: `{"name":"Fountain pen, blue"}`, Then: []any{product.ProductRegistered{Name: "Fountain pen, blue"}}},
		{Name: "name of the longest length", Command: "register", Data: `{"name":"` + name200 + `"}`, Then: []any{product.ProductRegistered{Name: name200}}},
		{Name: "refuses an existing product", Command: "register", Given: pen, Data: `{"name":"pen"}`, Error: aggregate.ErrExists, ErrorContains: "already exists"},
		{Name: "refuses a missing name", Command: "register", Data: `{}`, Error: aggregate.ErrInvalid, ErrorContains: "name is required"},
		{Name: "refuses an empty name", Command: "register", Data: `{"name":""}`, Error: aggregate.ErrInvalid, ErrorContains: "name is required"},
		{Name: "refuses a blank name", Command: "register", Data: `{"name":"\t"}`, Error: aggregate.ErrInvalid, ErrorContains: "name must not be blank"},
		{Name: "refuses a long name", Command: "register", Data: `{"name":"` + name200 + `x"}`, Error: aggregate.ErrInvalid, ErrorContains: "name must be at most 200 characters, got 201"},
		{Name: "refuses a control character", Command: "register", Data: `{"name":"pen\u001b[31m"}`, Error: aggregate.ErrInvalid, ErrorContains: "name must not contain control characters"},
		{Name: "refuses a number", Command: "register", Data: `{"name":1}`, Error: aggregate.ErrInvalid, ErrorContains: `field "name" must be a string`},
		{Name: "refuses an unknown field", Command: "register", Data: `{"name":"pen","stock":5}`, Error: aggregate.ErrInvalid, ErrorContains: `unknown field "stock"`},
		{Name: "refuses an array", Command: "register", Data: `["pen"]`, Error: aggregate.ErrInvalid, ErrorContains: "data must be a JSON object"},
		{Name: "refuses malformed JSON", Command: "register", Data: `{"name":"pen"`, Error: aggregate.ErrInvalid, ErrorContains: "data: "},
	})
}

// quantityCases are the malformed and out-of-range quantities every stock
// command refuses as invalid.
func quantityCases(command string) []testkit.AggregateCase {
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
	cases := make([]testkit.AggregateCase, len(bad))
	for i, b := range bad {
		cases[i] = testkit.AggregateCase{Name: "refuses " + b.name, Command: command, Given: pen, Data: b.data, Error: aggregate.ErrInvalid, ErrorContains: b.msg}
	}
	return cases
}

func TestReceiveStock(t *testing.T) {
	testkit.RunAggregateCases(t, product.Definition(), append([]testkit.AggregateCase{
		{Name: "receives", Command: "receive_stock", Given: pen, Data: `{"quantity":3}`, Then: []any{product.StockReceived{Quantity: 3}}},
		{Name: "receives up to the largest stock", Command: "receive_stock", Given: pen, Data: fmt.Sprintf(`{"quantity":%d}`, int64(math.MaxInt64-5)), Then: []any{product.StockReceived{Quantity: math.MaxInt64 - 5}}},
		{Name: "refuses a missing product", Command: "receive_stock", Data: `{"quantity":1}`, Error: aggregate.ErrNotFound, ErrorContains: "not found"},
		{Name: "refuses an overflow", Command: "receive_stock", Given: pen, Data: `{"quantity":9223372036854775807}`, Error: aggregate.ErrRejected, ErrorContains: "receiving 9223372036854775807 would overflow the stock 5"},
	}, quantityCases("receive_stock")...))
}

func TestRemoveStock(t *testing.T) {
	testkit.RunAggregateCases(t, product.Definition(), append([]testkit.AggregateCase{
		{Name: "removes", Command: "remove_stock", Given: pen, Data: `{"quantity":2}`, Then: []any{product.StockRemoved{Quantity: 2}}},
		{Name: "removes every unit", Command: "remove_stock", Given: pen, Data: `{"quantity":5}`, Then: []any{product.StockRemoved{Quantity: 5}}},
		{Name: "refuses a missing product", Command: "remove_stock", Data: `{"quantity":1}`, Error: aggregate.ErrNotFound, ErrorContains: "not found"},
		{Name: "refuses more than in stock", Command: "remove_stock", Given: pen, Data: `{"quantity":6}`, Error: aggregate.ErrRejected, ErrorContains: "insufficient stock: 5 in stock, 6 to remove"},
		{Name: "refuses an empty stock", Command: "remove_stock", Given: []any{product.ProductRegistered{Name: "pen"}}, Data: `{"quantity":1}`, Error: aggregate.ErrRejected, ErrorContains: "insufficient stock: 0 in stock, 1 to remove"},
	}, quantityCases("remove_stock")...))
}

func TestUnknownCommand(t *testing.T) {
	testkit.Aggregate(t, product.Definition()).Given(pen...).When("discontinue", nil).
		ThenError(aggregate.ErrUnknownCommand).
		ThenErrorContains(`product has no command "discontinue"`)
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
