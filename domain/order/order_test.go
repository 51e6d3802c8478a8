package order_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/domain/order"
	"github.com/jetsource/jetsource/testkit"
)

// placed is the history of an empty order; withItem of an order holding one
// line, item a × 1.
var (
	placed   = []any{order.OrderPlaced{}}
	withItem = []any{order.OrderPlaced{}, order.OrderItemAdded{ItemID: "a", Quantity: 1}}
)

// full is the history of an order holding MaxItems lines.
func full() []any {
	events := []any{order.OrderPlaced{}}
	for i := range order.MaxItems {
		events = append(events, order.OrderItemAdded{ItemID: fmt.Sprintf("item-%d", i), Quantity: 1})
	}
	return events
}

func TestDefinitionIsValidAndFresh(t *testing.T) {
	a, b := order.Definition(), order.Definition()
	require.NoError(t, a.Validate())
	assert.Equal(t, order.Type, a.Type)
	assert.NotSame(t, a.Events, b.Events, "each Definition builds its own registry")
	assert.True(t, a.Creates("place"))
	for _, name := range []string{"add_item", "remove_item", "change_quantity"} {
		assert.False(t, a.Creates(name), name)
	}
}

// TestSeedOrderExample is the seed's own example: order 7dd8.
func TestSeedOrderExample(t *testing.T) {
	def := order.Definition()
	s, exists := def.New(), false
	var names []string
	var events []any
	for _, step := range []struct{ command, data string }{
		{"place", ``},
		{"add_item", `{"item_id":"9a37","quantity":3}`},
		{"add_item", `{"item_id":"c52a","quantity":1}`},
		{"remove_item", `{"item_id":"c52a"}`},
		{"add_item", `{"item_id":"a974","quantity":10}`},
		{"change_quantity", `{"item_id":"9a37","quantity":5}`},
	} {
		dec, err := def.Decide(step.command, s, exists, json.RawMessage(step.data))
		require.NoError(t, err, step.command)
		for _, e := range dec.Events {
			names = append(names, def.Events.Name(e))
			events = append(events, e)
			s = def.Evolve(s, e)
		}
		exists = true
	}
	assert.Equal(t, []string{"OrderPlaced", "OrderItemAdded", "OrderItemAdded", "OrderItemRemoved", "OrderItemAdded", "OrderItemQuantityChanged"}, names)
	assert.Equal(t, []any{
		order.OrderPlaced{},
		order.OrderItemAdded{ItemID: "9a37", Quantity: 3},
		order.OrderItemAdded{ItemID: "c52a", Quantity: 1},
		order.OrderItemRemoved{ItemID: "c52a"},
		order.OrderItemAdded{ItemID: "a974", Quantity: 10},
		order.OrderItemQuantityChanged{ItemID: "9a37", Quantity: 5},
	}, events)
	assert.Equal(t, []order.Item{{ItemID: "9a37", Quantity: 5}, {ItemID: "a974", Quantity: 10}}, s.Items)
}

func TestPlace(t *testing.T) {
	testkit.RunAggregateCases(t, order.Definition(), []testkit.AggregateCase{
		{Name: "places without data", Command: "place", Data: ``, Then: []any{order.OrderPlaced{}}},
		{Name: "places with null data", Command: "place", Data: `null`, Then: []any{order.OrderPlaced{}}},
		{Name: "places with an empty object", Command: "place", Data: `{}`, Then: []any{order.OrderPlaced{}}},
		{Name: "refuses an existing order", Command: "place", Given: withItem, Error: aggregate.ErrExists, ErrorContains: "already exists"},
		{Name: "refuses a field", Command: "place", Data: `{"items":[]}`, Error: aggregate.ErrInvalid, ErrorContains: `unknown field "items"`},
		{Name: "refuses an array", Command: "place", Data: `[]`, Error: aggregate.ErrInvalid, ErrorContains: "data must be a JSON object"},
		{Name: "refuses a string", Command: "place", Data: `"place"`, Error: aggregate.ErrInvalid, ErrorContains: "data must be a JSON object"},
		{Name: "refuses malformed JSON", Command: "place", Data: `{"`, Error: aggregate.ErrInvalid, ErrorContains: "data: "},
	})
}

// itemIDCases are the item ids every command with one refuses as invalid;
// extra is the rest of a valid JSON object, e.g. `,"quantity":1`.
func itemIDCases(command, extra string) []testkit.AggregateCase {
	bad := []struct{ name, id, msg string }{
		{"a missing item_id", ``, "item_id is required"},
		{"a dot", `"a.b"`, `item_id must be 1 to 128 characters of A-Z, a-z, 0-9, '_' and '-', got "a.b"`},
		{"a wildcard", `">"`, `got ">"`},
		{"a space", `"a b"`, `got "a b"`},
		{"non-ASCII", `"caf\u00e9"`, `got "café"`},
		{"an empty item_id", `""`, "item_id is required"},
		{"a long item_id", `"` + strings.Repeat("x", 129) + `"`, `got "` + strings.Repeat("x", 64) + `"…`},
		{"a number", `42`, `field "item_id" must be a string`},
	}
	cases := make([]testkit.AggregateCase, len(bad))
	for i, b := range bad {
		data := `{"item_id":` + b.id + extra + `}`
		if b.id == "" {
			data = `{` + strings.TrimPrefix(extra, ",") + `}`
		}
		cases[i] = testkit.AggregateCase{Name: "refuses " + b.name, Command: command, Given: withItem, Data: data, Error: aggregate.ErrInvalid, ErrorContains: b.msg}
	}
	return cases
}

// quantityCases are the malformed and out-of-range quantities every command
// with a quantity refuses as invalid, for item a.
func quantityCases(command string) []testkit.AggregateCase {
	bad := []struct{ name, data, msg string }{
		{"a zero quantity", `{"item_id":"a","quantity":0}`, "quantity must be a positive integer, got 0"},
		{"a negative quantity", `{"item_id":"a","quantity":-2}`, "quantity must be a positive integer, got -2"},
		{"a missing quantity", `{"item_id":"a"}`, "quantity must be a positive integer, got 0"},
		{"a fraction", `{"item_id":"a","quantity":1.5}`, `field "quantity" must be a whole number within range, got JSON number 1.5`},
		{"a string quantity", `{"item_id":"a","quantity":"100"}`, `field "quantity" must be a whole number within range, got JSON string`},
		{"an exponent", `{"item_id":"a","quantity":1e30}`, `field "quantity" must be a whole number within range`},
		{"a huge quantity", `{"item_id":"a","quantity":99999999999999999999999}`, `field "quantity" must be a whole number within range`},
		{"an unknown field", `{"item_id":"a","quantity":1,"price":3}`, `unknown field "price"`},
		{"an array", `[{"item_id":"a","quantity":1}]`, "data must be a JSON object"},
		{"a string", `"a"`, "data must be a JSON object"},
		{"no data", ``, "item_id is required"},
		{"not JSON", `item_id=a`, "data must be a JSON object"},
		{"malformed JSON", `{"item_id":"a",}`, "data: "},
		{"trailing content", `{"item_id":"a","quantity":1} x`, "unexpected content after the JSON object"},
	}
	cases := make([]testkit.AggregateCase, len(bad))
	for i, b := range bad {
		cases[i] = testkit.AggregateCase{Name: "refuses " + b.name, Command: command, Given: withItem, Data: b.data, Error: aggregate.ErrInvalid, ErrorContains: b.msg}
	}
	return cases
}

func TestAddItem(t *testing.T) {
	id128 := strings.Repeat("Z", 128)
	cases := []testkit.AggregateCase{
		{Name: "adds an item", Command: "add_item", Given: withItem, Data: `{"item_id":"b","quantity":3}`, Then: []any{order.OrderItemAdded{ItemID: "b", Quantity: 3}}},
		{Name: "adds to an empty order", Command: "add_item", Given: placed, Data: `{"item_id":"9a37","quantity":3}`, Then: []any{order.OrderItemAdded{ItemID: "9a37", Quantity: 3}}},
		{Name: "adds an item with the longest id", Command: "add_item", Given: placed, Data: `{"item_id":"` + id128 + `","quantity":1}`, Then: []any{order.OrderItemAdded{ItemID: id128, Quantity: 1}}},
		{Name: "adds an item with every allowed character", Command: "add_item", Given: placed, Data: `{"item_id":"aZ09_-","quantity":9223372036854775807}`, Then: []any{order.OrderItemAdded{ItemID: "aZ09_-", Quantity: 9223372036854775807}}},
		{Name: "refuses a missing order", Command: "add_item", Data: `{"item_id":"b","quantity":1}`, Error: aggregate.ErrNotFound, ErrorContains: "not found"},
		{Name: "refuses an item already in the order", Command: "add_item", Given: withItem, Data: `{"item_id":"a","quantity":2}`, Error: aggregate.ErrRejected, ErrorContains: "item a is already in the order: use change_quantity"},
		{Name: "refuses an item beyond the cap", Command: "add_item", Given: full(), Data: `{"item_id":"new","quantity":1}`, Error: aggregate.ErrRejected, ErrorContains: fmt.Sprintf("already holds %d items", order.MaxItems)},
		{Name: "adds an item differing only in case", Command: "add_item", Given: withItem, Data: `{"item_id":"A","quantity":1}`, Then: []any{order.OrderItemAdded{ItemID: "A", Quantity: 1}}},
	}
	cases = append(cases, itemIDCases("add_item", `,"quantity":1`)...)
	testkit.RunAggregateCases(t, order.Definition(), append(cases, quantityCases("add_item")...))
}

func TestRemoveItem(t *testing.T) {
	cases := []testkit.AggregateCase{
		{Name: "removes an item", Command: "remove_item", Given: withItem, Data: `{"item_id":"a"}`, Then: []any{order.OrderItemRemoved{ItemID: "a"}}},
		{Name: "removes from a full order", Command: "remove_item", Given: full(), Data: `{"item_id":"item-999"}`, Then: []any{order.OrderItemRemoved{ItemID: "item-999"}}},
		{Name: "refuses a missing order", Command: "remove_item", Data: `{"item_id":"a"}`, Error: aggregate.ErrNotFound, ErrorContains: "not found"},
		{Name: "refuses an unknown item", Command: "remove_item", Given: withItem, Data: `{"item_id":"zz"}`, Error: aggregate.ErrRejected, ErrorContains: "unknown item zz"},
		{Name: "refuses an item of an empty order", Command: "remove_item", Given: placed, Data: `{"item_id":"a"}`, Error: aggregate.ErrRejected, ErrorContains: "unknown item a"},
		{Name: "refuses a quantity", Command: "remove_item", Given: withItem, Data: `{"item_id":"a","quantity":1}`, Error: aggregate.ErrInvalid, ErrorContains: `unknown field "quantity"`},
		{Name: "refuses an array", Command: "remove_item", Given: withItem, Data: `["a"]`, Error: aggregate.ErrInvalid, ErrorContains: "data must be a JSON object"},
		{Name: "refuses no data", Command: "remove_item", Given: withItem, Data: ``, Error: aggregate.ErrInvalid, ErrorContains: "item_id is required"},
		{Name: "refuses malformed JSON", Command: "remove_item", Given: withItem, Data: `{"item_id":a}`, Error: aggregate.ErrInvalid, ErrorContains: "data: "},
	}
	testkit.RunAggregateCases(t, order.Definition(), append(cases, itemIDCases("remove_item", "")...))
}

func TestChangeQuantity(t *testing.T) {
	cases := []testkit.AggregateCase{
		{Name: "changes a quantity", Command: "change_quantity", Given: withItem, Data: `{"item_id":"a","quantity":5}`, Then: []any{order.OrderItemQuantityChanged{ItemID: "a", Quantity: 5}}},
		{Name: "records the same quantity again", Command: "change_quantity", Given: withItem, Data: `{"item_id":"a","quantity":1}`, Then: []any{order.OrderItemQuantityChanged{ItemID: "a", Quantity: 1}}},
		{Name: "refuses a missing order", Command: "change_quantity", Data: `{"item_id":"a","quantity":5}`, Error: aggregate.ErrNotFound, ErrorContains: "not found"},
		{Name: "refuses an unknown item", Command: "change_quantity", Given: withItem, Data: `{"item_id":"zz","quantity":2}`, Error: aggregate.ErrRejected, ErrorContains: "unknown item zz"},
	}
	cases = append(cases, itemIDCases("change_quantity", `,"quantity":1`)...)
	testkit.RunAggregateCases(t, order.Definition(), append(cases, quantityCases("change_quantity")...))
}

func TestUnknownCommand(t *testing.T) {
	testkit.Aggregate(t, order.Definition()).Given(withItem...).When("cancel", nil).
		ThenError(aggregate.ErrUnknownCommand).
		ThenErrorContains(`order has no command "cancel"`)
}

func TestEvolveReplaysEvents(t *testing.T) {
	cases := []struct {
		name   string
		events []any
		want   []order.Item
	}{
		{"nothing", nil, nil},
		{"placed", []any{order.OrderPlaced{}}, nil},
		{"items keep the order they were added in", []any{order.OrderPlaced{}, order.OrderItemAdded{ItemID: "c", Quantity: 1}, order.OrderItemAdded{ItemID: "a", Quantity: 2}, order.OrderItemAdded{ItemID: "b", Quantity: 3}},
			[]order.Item{{ItemID: "c", Quantity: 1}, {ItemID: "a", Quantity: 2}, {ItemID: "b", Quantity: 3}}},
		{"a removed item leaves its place", []any{order.OrderItemAdded{ItemID: "c", Quantity: 1}, order.OrderItemAdded{ItemID: "a", Quantity: 2}, order.OrderItemAdded{ItemID: "b", Quantity: 3}, order.OrderItemRemoved{ItemID: "a"}},
			[]order.Item{{ItemID: "c", Quantity: 1}, {ItemID: "b", Quantity: 3}}},
		{"a re-added item goes last", []any{order.OrderItemAdded{ItemID: "a", Quantity: 1}, order.OrderItemAdded{ItemID: "b", Quantity: 1}, order.OrderItemRemoved{ItemID: "a"}, order.OrderItemAdded{ItemID: "a", Quantity: 4}},
			[]order.Item{{ItemID: "b", Quantity: 1}, {ItemID: "a", Quantity: 4}}},
		{"a changed quantity keeps its place", []any{order.OrderItemAdded{ItemID: "a", Quantity: 1}, order.OrderItemAdded{ItemID: "b", Quantity: 1}, order.OrderItemQuantityChanged{ItemID: "a", Quantity: 7}},
			[]order.Item{{ItemID: "a", Quantity: 7}, {ItemID: "b", Quantity: 1}}},
		{"events about an absent item change nothing", []any{order.OrderItemAdded{ItemID: "a", Quantity: 1}, order.OrderItemRemoved{ItemID: "x"}, order.OrderItemQuantityChanged{ItemID: "x", Quantity: 2}},
			[]order.Item{{ItemID: "a", Quantity: 1}}},
		{"unknown events are ignored", []any{order.OrderItemAdded{ItemID: "a", Quantity: 1}, struct{}{}, nil, 42},
			[]order.Item{{ItemID: "a", Quantity: 1}}},
	}
	def := order.Definition()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := def.New()
			for _, e := range c.events {
				s = def.Evolve(s, e)
			}
			if len(c.want) == 0 {
				assert.Empty(t, s.Items)
				return
			}
			assert.Equal(t, c.want, s.Items)
		})
	}
}

func TestEvolveLeavesEarlierStatesAlone(t *testing.T) {
	s1 := order.Evolve(order.State{}, order.OrderItemAdded{ItemID: "a", Quantity: 1})
	s2 := order.Evolve(s1, order.OrderItemAdded{ItemID: "b", Quantity: 2})
	s3 := order.Evolve(s2, order.OrderItemQuantityChanged{ItemID: "a", Quantity: 9})
	s4 := order.Evolve(s3, order.OrderItemRemoved{ItemID: "a"})
	s2b := order.Evolve(s2, order.OrderItemAdded{ItemID: "c", Quantity: 3})
	assert.Equal(t, []order.Item{{ItemID: "a", Quantity: 1}}, s1.Items)
	assert.Equal(t, []order.Item{{ItemID: "a", Quantity: 1}, {ItemID: "b", Quantity: 2}}, s2.Items)
	assert.Equal(t, []order.Item{{ItemID: "a", Quantity: 9}, {ItemID: "b", Quantity: 2}}, s3.Items)
	assert.Equal(t, []order.Item{{ItemID: "b", Quantity: 2}}, s4.Items)
	assert.Equal(t, []order.Item{{ItemID: "a", Quantity: 1}, {ItemID: "b", Quantity: 2}, {ItemID: "c", Quantity: 3}}, s2b.Items)
}

func TestEventsRoundTripThroughTheRegistry(t *testing.T) {
	reg := order.Definition().Events
	cases := []struct {
		event any
		name  string
		json  string
	}{
		{order.OrderPlaced{}, "OrderPlaced", `{}`},
		{order.OrderItemAdded{ItemID: "9a37", Quantity: 3}, "OrderItemAdded", `{"item_id":"9a37","quantity":3}`},
		{order.OrderItemRemoved{ItemID: "c52a"}, "OrderItemRemoved", `{"item_id":"c52a"}`},
		{order.OrderItemQuantityChanged{ItemID: "9a37", Quantity: 5}, "OrderItemQuantityChanged", `{"item_id":"9a37","quantity":5}`},
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

func TestStateJSON(t *testing.T) {
	b, err := json.Marshal(order.State{Items: []order.Item{{ItemID: "9a37", Quantity: 5}}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"items":[{"item_id":"9a37","quantity":5}]}`, string(b))
}
