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
)

// decideCase is one command run through Definition().Decide: either the
// events it must decide or the error it must wrap and a part of its message.
type decideCase struct {
	name    string
	command string
	state   order.State
	exists  bool
	data    string
	want    []any
	err     error
	msg     string
}

func runDecideCases(t *testing.T, cases []decideCase) {
	t.Helper()
	def := order.Definition()
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
			assert.Empty(t, dec.Unique, "no order command reserves a unique key")
		})
	}
}

// withItem is an order holding one line, item a × 1.
var withItem = order.State{Items: []order.Item{{ItemID: "a", Quantity: 1}}}

// full is an order holding MaxItems lines.
func full() order.State {
	s := order.State{Items: make([]order.Item, order.MaxItems)}
	for i := range s.Items {
		s.Items[i] = order.Item{ItemID: fmt.Sprintf("item-%d", i), Quantity: 1}
	}
	return s
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
	runDecideCases(t, []decideCase{
		{name: "places without data", command: "place", data: ``, want: []any{order.OrderPlaced{}}},
		{name: "places with null data", command: "place", data: `null`, want: []any{order.OrderPlaced{}}},
		{name: "places with an empty object", command: "place", data: `{}`, want: []any{order.OrderPlaced{}}},
		{name: "refuses an existing order", command: "place", state: withItem, exists: true, err: aggregate.ErrExists, msg: "already exists"},
		{name: "refuses a field", command: "place", data: `{"items":[]}`, err: aggregate.ErrInvalid, msg: `unknown field "items"`},
		{name: "refuses an array", command: "place", data: `[]`, err: aggregate.ErrInvalid, msg: "data must be a JSON object"},
		{name: "refuses a string", command: "place", data: `"place"`, err: aggregate.ErrInvalid, msg: "data must be a JSON object"},
		{name: "refuses malformed JSON", command: "place", data: `{"`, err: aggregate.ErrInvalid, msg: "data: "},
	})
}

// itemIDCases are the item ids every command with one refuses as invalid;
// extra is the rest of a valid JSON object, e.g. `,"quantity":1`.
func itemIDCases(command, extra string) []decideCase {
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
	cases := make([]decideCase, len(bad))
	for i, b := range bad {
		data := `{"item_id":` + b.id + extra + `}`
		if b.id == "" {
			data = `{` + strings.TrimPrefix(extra, ",") + `}`
		}
		cases[i] = decideCase{name: "refuses " + b.name, command: command, state: withItem, exists: true, data: data, err: aggregate.ErrInvalid, msg: b.msg}
	}
	return cases
}

// quantityCases are the malformed and out-of-range quantities every command
// with a quantity refuses as invalid, for item a.
func quantityCases(command string) []decideCase {
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
	cases := make([]decideCase, len(bad))
	for i, b := range bad {
		cases[i] = decideCase{name: "refuses " + b.name, command: command, state: withItem, exists: true, data: b.data, err: aggregate.ErrInvalid, msg: b.msg}
	}
	return cases
}

func TestAddItem(t *testing.T) {
	id128 := strings.Repeat("Z", 128)
	cases := []decideCase{
		{name: "adds an item", command: "add_item", state: withItem, exists: true, data: `{"item_id":"b","quantity":3}`, want: []any{order.OrderItemAdded{ItemID: "b", Quantity: 3}}},
		{name: "adds to an empty order", command: "add_item", exists: true, data: `{"item_id":"9a37","quantity":3}`, want: []any{order.OrderItemAdded{ItemID: "9a37", Quantity: 3}}},
		{name: "adds an item with the longest id", command: "add_item", exists: true, data: `{"item_id":"` + id128 + `","quantity":1}`, want: []any{order.OrderItemAdded{ItemID: id128, Quantity: 1}}},
		{name: "adds an item with every allowed character", command: "add_item", exists: true, data: `{"item_id":"aZ09_-","quantity":9223372036854775807}`, want: []any{order.OrderItemAdded{ItemID: "aZ09_-", Quantity: 9223372036854775807}}},
		{name: "refuses a missing order", command: "add_item", data: `{"item_id":"b","quantity":1}`, err: aggregate.ErrNotFound, msg: "not found"},
		{name: "refuses an item already in the order", command: "add_item", state: withItem, exists: true, data: `{"item_id":"a","quantity":2}`, err: aggregate.ErrRejected, msg: "item a is already in the order: use change_quantity"},
		{name: "refuses an item beyond the cap", command: "add_item", state: full(), exists: true, data: `{"item_id":"new","quantity":1}`, err: aggregate.ErrRejected, msg: fmt.Sprintf("already holds %d items", order.MaxItems)},
		{name: "adds an item differing only in case", command: "add_item", state: withItem, exists: true, data: `{"item_id":"A","quantity":1}`, want: []any{order.OrderItemAdded{ItemID: "A", Quantity: 1}}},
	}
	cases = append(cases, itemIDCases("add_item", `,"quantity":1`)...)
	runDecideCases(t, append(cases, quantityCases("add_item")...))
}

func TestRemoveItem(t *testing.T) {
	cases := []decideCase{
		{name: "removes an item", command: "remove_item", state: withItem, exists: true, data: `{"item_id":"a"}`, want: []any{order.OrderItemRemoved{ItemID: "a"}}},
		{name: "removes from a full order", command: "remove_item", state: full(), exists: true, data: `{"item_id":"item-999"}`, want: []any{order.OrderItemRemoved{ItemID: "item-999"}}},
		{name: "refuses a missing order", command: "remove_item", data: `{"item_id":"a"}`, err: aggregate.ErrNotFound, msg: "not found"},
		{name: "refuses an unknown item", command: "remove_item", state: withItem, exists: true, data: `{"item_id":"zz"}`, err: aggregate.ErrRejected, msg: "unknown item zz"},
		{name: "refuses an item of an empty order", command: "remove_item", exists: true, data: `{"item_id":"a"}`, err: aggregate.ErrRejected, msg: "unknown item a"},
		{name: "refuses a quantity", command: "remove_item", state: withItem, exists: true, data: `{"item_id":"a","quantity":1}`, err: aggregate.ErrInvalid, msg: `unknown field "quantity"`},
		{name: "refuses an array", command: "remove_item", state: withItem, exists: true, data: `["a"]`, err: aggregate.ErrInvalid, msg: "data must be a JSON object"},
		{name: "refuses no data", command: "remove_item", state: withItem, exists: true, data: ``, err: aggregate.ErrInvalid, msg: "item_id is required"},
		{name: "refuses malformed JSON", command: "remove_item", state: withItem, exists: true, data: `{"item_id":a}`, err: aggregate.ErrInvalid, msg: "data: "},
	}
	runDecideCases(t, append(cases, itemIDCases("remove_item", "")...))
}

func TestChangeQuantity(t *testing.T) {
	cases := []decideCase{
		{name: "changes a quantity", command: "change_quantity", state: withItem, exists: true, data: `{"item_id":"a","quantity":5}`, want: []any{order.OrderItemQuantityChanged{ItemID: "a", Quantity: 5}}},
		{name: "records the same quantity again", command: "change_quantity", state: withItem, exists: true, data: `{"item_id":"a","quantity":1}`, want: []any{order.OrderItemQuantityChanged{ItemID: "a", Quantity: 1}}},
		{name: "refuses a missing order", command: "change_quantity", data: `{"item_id":"a","quantity":5}`, err: aggregate.ErrNotFound, msg: "not found"},
		{name: "refuses an unknown item", command: "change_quantity", state: withItem, exists: true, data: `{"item_id":"zz","quantity":2}`, err: aggregate.ErrRejected, msg: "unknown item zz"},
	}
	cases = append(cases, itemIDCases("change_quantity", `,"quantity":1`)...)
	runDecideCases(t, append(cases, quantityCases("change_quantity")...))
}

func TestUnknownCommand(t *testing.T) {
	_, err := order.Definition().Decide("cancel", withItem, true, nil)
	require.ErrorIs(t, err, aggregate.ErrUnknownCommand)
	assert.Contains(t, err.Error(), `order has no command "cancel"`)
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
