package streams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// tally is the test aggregate: a running sum of Added events.
type tally struct {
	Count int   `json:"count"`
	Sum   int64 `json:"sum"`
	// Last lists the last few amounts, so order matters to the state.
	Last []int64 `json:"last"`
}

type added struct {
	N int64 `json:"n"`
}

func applyTally(s tally, r streams.Recorded) (tally, error) {
	var e added
	if err := json.Unmarshal(r.Data, &e); err != nil {
		return s, err
	}
	s.Count++
	s.Sum += e.N
	s.Last = append(s.Last, e.N)
	if len(s.Last) > 3 {
		s.Last = s.Last[len(s.Last)-3:]
	}
	return s, nil
}

func tallyModel(every int) streams.Model[tally] {
	return streams.Model[tally]{Type: "tally", Apply: applyTally, SnapshotEvery: every}
}

func addedEvent(n int64) streams.Event {
	return streams.Event{Type: "Added", Data: fmt.Appendf(nil, `{"n":%d}`, n)}
}

func addedEvents(from, count int64) []streams.Event {
	out := make([]streams.Event, count)
	for i := range out {
		out[i] = addedEvent(from + int64(i))
	}
	return out
}

type fixture struct {
	nats  *testkit.NATS
	store *streams.Store
}

func newFixture(t *testing.T, opts ...streams.Option) fixture {
	t.Helper()
	n := testkit.StartNATS(t)
	store, err := streams.Open(testCtx(t), n.Connect(), opts...)
	require.NoError(t, err)
	return fixture{nats: n, store: store}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustRef(t *testing.T, typ, id string) streams.Ref {
	t.Helper()
	ref, err := streams.NewRef(typ, id)
	require.NoError(t, err)
	return ref
}

// readAll returns every event of ref.
func readAll(t *testing.T, store *streams.Store, ref streams.Ref) []streams.Recorded {
	t.Helper()
	var out []streams.Recorded
	for r, err := range store.Read(testCtx(t), ref, streams.Position{}, streams.Until{}) {
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}

// requireContiguous checks versions 1..n with increasing sequences.
func requireContiguous(t *testing.T, events []streams.Recorded, n int) {
	t.Helper()
	require.Len(t, events, n)
	for i, e := range events {
		require.Equal(t, streams.Version(i+1), e.Version, "event %d", i)
		if i > 0 {
			require.Greater(t, e.Sequence, events[i-1].Sequence)
		}
	}
}

// testenvHuge reports whether the long benchmarks should use their full
// size (JETSOURCE_BENCH_HUGE=1).
func testenvHuge() bool { return os.Getenv("JETSOURCE_BENCH_HUGE") == "1" }
