package aggregate_test

import (
	"encoding/json"
	"fmt"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/codec"
)

// The README's "Adding an aggregate": two commands, two events.

type Counter struct{ N int64 }
type Created struct{}
type Incremented struct {
	By int64 `json:"by"`
}
type Increment struct {
	By int64 `json:"by"`
}

func (c Increment) Validate() error {
	if c.By <= 0 {
		return aggregate.Invalid("by must be positive, got %d", c.By)
	}
	return nil
}

func CounterDefinition() aggregate.Definition[Counter] {
	events := codec.NewRegistry()
	codec.Register[Created](events, "CounterCreated")
	codec.Register[Incremented](events, "CounterIncremented")
	return aggregate.Definition[Counter]{
		Type:   "counter",
		Events: events,
		Evolve: func(s Counter, e any) Counter {
			if e, ok := e.(Incremented); ok {
				s.N += e.By
			}
			return s
		},
		Commands: map[string]aggregate.Command[Counter]{
			"create": aggregate.Create[Counter](func(struct{}) ([]any, error) { return []any{Created{}}, nil }),
			"increment": aggregate.Handle(func(s Counter, c Increment) ([]any, error) {
				return []any{Incremented{By: c.By}}, nil
			}),
		},
	}
}

func ExampleDefinition() {
	def := CounterDefinition()
	fmt.Println(def.Validate())
	var s Counter
	dec, _ := def.Decide("create", s, false, nil)
	for _, e := range dec.Events {
		s = def.Evolve(s, e)
	}
	dec, _ = def.Decide("increment", s, true, json.RawMessage(`{"by":5}`))
	for _, e := range dec.Events {
		s = def.Evolve(s, e)
	}
	fmt.Println(s.N)
	_, err := def.Decide("increment", s, true, json.RawMessage(`{"by":-1}`))
	fmt.Println(err)
	_, err = def.Decide("increment", s, false, json.RawMessage(`{"by":1}`))
	fmt.Println(err)
	// Output:
	// <nil>
	// 5
	// invalid command: by must be positive, got -1
	// aggregate not found: counter
}
