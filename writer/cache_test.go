package writer_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/codec"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
	"github.com/jetsource/jetsource/writer"
)

type tally struct {
	Sum    int    `json:"sum"`
	Hidden int    `json:"hidden"`
	Note   string `json:"note"`
}

// TallyAdded keeps Secret out of its payload: its decided value does not
// come back from the stream as it was decided.
type TallyAdded struct {
	N      int `json:"n"`
	Secret int `json:"-"`
}

// TallyNoted comes back from its payload as it was decided.
type TallyNoted struct {
	Text string `json:"text"`
}

type TallyChecked struct{}

type TallyMismatched struct{}

// tallies is an aggregate whose "expect" command appends TallyChecked when
// the state it is decided on is the one given, TallyMismatched otherwise:
// both are successes, decided on the writer's cached state without a
// reload.
func tallies() aggregate.Definition[tally] {
	reg := codec.NewRegistry()
	codec.Register[TallyAdded](reg, "TallyAdded")
	codec.Register[TallyNoted](reg, "TallyNoted")
	codec.Register[TallyChecked](reg, "TallyChecked")
	codec.Register[TallyMismatched](reg, "TallyMismatched")
	type add struct {
		N int `json:"n"`
	}
	type note struct {
		Text string `json:"text"`
	}
	return aggregate.Definition[tally]{Type: "tally", Events: reg,
		Evolve: func(s tally, e any) tally {
			switch e := e.(type) {
			case TallyAdded:
				s.Sum += e.N
				s.Hidden += e.Secret
			case TallyNoted:
				s.Note = e.Text
			}
			return s
		},
		Commands: map[string]aggregate.Command[tally]{
			"add": aggregate.Create[tally](func(c add) ([]any, error) { return []any{TallyAdded{N: c.N, Secret: 7}}, nil }),
			"note": aggregate.Handle(func(_ tally, c note) ([]any, error) {
				return []any{TallyNoted{Text: c.Text}, TallyAdded{N: 1, Secret: 7}}, nil
			}),
			"expect": aggregate.Handle(func(s tally, want tally) ([]any, error) {
				if s == want {
					return []any{TallyChecked{}}, nil
				}
				return []any{TallyMismatched{}}, nil
			}),
		}}
}

// The writer folds the events it has just appended into its cached state
// from their decided values only where their payloads give those values
// back: the cached state is always the one a load from the stream folds.
func TestCachedStateIsTheStateALoadFolds(t *testing.T) {
	n := testkit.StartNATS(t)
	w := startWriterWith(t, n, func(w *writer.Writer) error { return writer.Register(w, tallies()) })
	nc := n.Connect()

	ok(t, nc, "cmd.tally.add", `{"aggregate_id":"t1","data":{"n":2}}`)
	ok(t, nc, "cmd.tally.note", `{"aggregate_id":"t1","data":{"text":"hé <b> \"q\""}}`)
	ok(t, nc, "cmd.tally.expect", `{"aggregate_id":"t1","data":{"sum":3,"hidden":0,"note":"hé <b> \"q\""}}`)

	evs := events(t, w.store, "tally", "t1")
	require.Len(t, evs, 4)
	assert.Equal(t, "TallyChecked", evs[3].Type, "decided on the state a load folds (Secret never stored)")

	repo, err := streams.NewRepository(w.store, streams.ModelOf(tallies()))
	require.NoError(t, err)
	loaded, err := repo.Load(context.Background(), "t1")
	require.NoError(t, err)
	assert.Equal(t, tally{Sum: 3, Note: `hé <b> "q"`}, loaded.State)
}
