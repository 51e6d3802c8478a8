package testkit

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/jetsource/jetsource/aggregate"
)

// AggregateFixture is a given/when/then test of one aggregate, pure: it runs
// the Definition's own Decide and Evolve, with no NATS and no store. Build it
// with Aggregate; Given and When return new values, so one fixture may start
// any number of cases.
type AggregateFixture[S any] struct {
	t   testing.TB
	def aggregate.Definition[S]
	// given is the history as the test wrote it, stored as it reads back
	// from the store.
	given, stored []any
}

// Aggregate starts a given/when/then test of def, failing t at once when def
// is not valid.
//
//	testkit.Aggregate(t, account.Definition()).
//		Given(account.AccountOpened{Owner: "ada"}, account.MoneyDeposited{Amount: 30}).
//		When("withdraw", `{"amount":50}`).
//		ThenError(aggregate.ErrRejected).
//		ThenErrorContains("insufficient funds")
func Aggregate[S any](t testing.TB, def aggregate.Definition[S]) AggregateFixture[S] {
	t.Helper()
	if err := def.Validate(); err != nil {
		t.Fatalf("testkit: invalid aggregate definition: %v", err)
	}
	return AggregateFixture[S]{t: t, def: def}
}

// Given adds events to the aggregate's history. Each makes a trip through
// the Definition's codec registry, as the writer stores and loads it, so an
// event type that is not registered or a field that does not survive JSON
// fails the test here rather than passing unnoticed. An aggregate with no
// events given does not exist yet.
func (f AggregateFixture[S]) Given(events ...any) AggregateFixture[S] {
	f.t.Helper()
	// Full slice expressions: fixtures that share a history never write to
	// each other's.
	f.given = append(f.given[:len(f.given):len(f.given)], events...)
	f.stored = f.stored[:len(f.stored):len(f.stored)]
	for _, e := range events {
		enc, err := f.def.Events.Encode(e)
		if err != nil {
			f.t.Fatalf("testkit: given event %d (%T) cannot be stored: %v", len(f.stored)+1, e, err)
		}
		stored, err := f.def.Events.Decode(enc.Type, enc.Schema, enc.Data)
		if err != nil {
			f.t.Fatalf("testkit: given event %d (%s) cannot be loaded: %v", len(f.stored)+1, enc.Type, err)
		}
		f.stored = append(f.stored, stored)
	}
	return f
}

// When folds the given history into a fresh state with Evolve and runs
// command name against it with Decide. data is the command's JSON data: a
// string, []byte or json.RawMessage is taken as raw JSON as it comes off the
// wire ("" and nil for none), any other value is encoded with encoding/json
// first.
func (f AggregateFixture[S]) When(command string, data any) *AggregateOutcome[S] {
	f.t.Helper()
	raw, err := rawData(data)
	if err != nil {
		f.t.Fatalf("testkit: when %s: encode data %#v: %v", command, data, err)
	}
	state := f.def.New()
	for _, e := range f.stored {
		state = f.def.Evolve(state, e)
	}
	dec, err := f.def.Decide(command, state, len(f.stored) > 0, raw)
	return &AggregateOutcome[S]{f: f, command: command, data: raw, decision: dec, err: err}
}

func rawData(data any) (json.RawMessage, error) {
	switch d := data.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		return d, nil
	case []byte:
		return d, nil
	case string:
		return json.RawMessage(d), nil
	default:
		return json.Marshal(d)
	}
}

// AggregateOutcome is what a command decided; its Then methods check it and
// return it, so checks chain.
type AggregateOutcome[S any] struct {
	f        AggregateFixture[S]
	command  string
	data     json.RawMessage
	decision aggregate.Decision
	err      error
}

// Then checks that the command succeeded and decided exactly events, in
// order (none: it decided nothing). Each decided event must also be one the
// Definition's registry can store. It does not look at a reserved unique key:
// ThenUnique does.
func (o *AggregateOutcome[S]) Then(events ...any) *AggregateOutcome[S] {
	o.f.t.Helper()
	if o.err != nil {
		o.fail("want events:\n%s\ngot error: %v", o.list(events), o.err)
		return o
	}
	if !equalEvents(events, o.decision.Events) {
		o.fail("want events:\n%s\ngot events:\n%s", o.list(events), o.list(o.decision.Events))
		return o
	}
	for i, e := range o.decision.Events {
		if _, err := o.f.def.Events.Encode(e); err != nil {
			o.fail("decided event %d cannot be stored: %v", i+1, err)
		}
	}
	return o
}

// ThenError checks that the command failed with an error wrapping target
// (errors.Is), e.g. aggregate.ErrRejected, and decided no event.
func (o *AggregateOutcome[S]) ThenError(target error) *AggregateOutcome[S] {
	o.f.t.Helper()
	switch {
	case o.err == nil:
		o.fail("want an error wrapping %q\ngot events:\n%s", target, o.list(o.decision.Events))
	case !errors.Is(o.err, target):
		o.fail("want an error wrapping %q\ngot error: %v", target, o.err)
	case len(o.decision.Events) > 0:
		o.fail("a failed command decides nothing, got error %v and events:\n%s", o.err, o.list(o.decision.Events))
	}
	return o
}

// ThenErrorContains checks that the command failed with an error whose
// message contains part, e.g. "insufficient funds".
func (o *AggregateOutcome[S]) ThenErrorContains(part string) *AggregateOutcome[S] {
	o.f.t.Helper()
	switch {
	case o.err == nil:
		o.fail("want an error containing %q\ngot events:\n%s", part, o.list(o.decision.Events))
	case !strings.Contains(o.err.Error(), part):
		o.fail("want an error containing %q\ngot error: %v", part, o.err)
	}
	return o
}

// ThenUnique checks that the command succeeded and reserved key as its unique
// key ("" for none; see aggregate.Unique).
func (o *AggregateOutcome[S]) ThenUnique(key string) *AggregateOutcome[S] {
	o.f.t.Helper()
	switch {
	case o.err != nil:
		o.fail("want unique key %q reserved\ngot error: %v", key, o.err)
	case o.decision.Unique != key:
		o.fail("want unique key %q reserved\ngot %q", key, o.decision.Unique)
	}
	return o
}

// Decision returns what the command decided, for checks of one's own.
func (o *AggregateOutcome[S]) Decision() aggregate.Decision { return o.decision }

// Err returns the command's error, for checks of one's own.
func (o *AggregateOutcome[S]) Err() error { return o.err }

// fail reports a failed check with the case it belongs to, and lets the test
// go on to its other checks.
func (o *AggregateOutcome[S]) fail(format string, args ...any) {
	o.f.t.Helper()
	o.f.t.Errorf("testkit: %s\n%s", o.scenario(), fmt.Sprintf(format, args...))
}

// scenario describes the case: the history given and the command.
func (o *AggregateOutcome[S]) scenario() string {
	var b strings.Builder
	if len(o.f.given) == 0 {
		fmt.Fprintf(&b, "given a new %s\n", o.f.def.Type)
	} else {
		fmt.Fprintf(&b, "given %s events:\n%s\n", o.f.def.Type, o.list(o.f.given))
	}
	data := string(o.data)
	if data == "" {
		data = "(no data)"
	}
	fmt.Fprintf(&b, "when %s %s", o.command, data)
	return b.String()
}

// list prints events one a line, numbered, with their registered names.
func (o *AggregateOutcome[S]) list(events []any) string {
	if len(events) == 0 {
		return "  (none)"
	}
	lines := make([]string, len(events))
	for i, e := range events {
		name := o.f.def.Events.Name(e)
		if name == "" {
			name = fmt.Sprintf("%T (not registered)", e)
		}
		lines[i] = fmt.Sprintf("  %d. %s %+v", i+1, name, e)
	}
	return strings.Join(lines, "\n")
}

func equalEvents(want, got []any) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if !reflect.DeepEqual(want[i], got[i]) {
			return false
		}
	}
	return true
}

// AggregateCase is one row of a table of aggregate cases (RunAggregateCases):
// a history, a command and either the decision it must make or the error it
// must fail with.
type AggregateCase struct {
	// Name names the subtest.
	Name string
	// Given is the aggregate's history; none for a new aggregate.
	Given []any
	// Command and Data are the command, as for AggregateFixture.When.
	Command string
	Data    any
	// Then are the events the command must decide when Error is nil.
	Then []any
	// Unique is the unique key it must reserve when Error is nil; "" for none.
	Unique string
	// Error, when not nil, is the error the command must fail with (errors.Is),
	// and ErrorContains a part of its message.
	Error         error
	ErrorContains string
}

// RunAggregateCases runs each case as a subtest of t, against def.
func RunAggregateCases[S any](t *testing.T, def aggregate.Definition[S], cases []AggregateCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Helper()
			o := Aggregate(t, def).Given(c.Given...).When(c.Command, c.Data)
			if c.Error != nil {
				o.ThenError(c.Error).ThenErrorContains(c.ErrorContains)
				return
			}
			if o.Then(c.Then...).Err() == nil {
				o.ThenUnique(c.Unique)
			}
		})
	}
}
