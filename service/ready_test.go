package service_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/service"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// appendEvents appends n one-event aggregates of type typ and returns the
// last sequence.
func appendEvents(t *testing.T, store *streams.Store, typ string, n int) streams.Sequence {
	t.Helper()
	var last streams.Sequence
	for i := range n {
		ref, err := streams.NewRef(typ, fmt.Sprintf("x%d", i))
		require.NoError(t, err)
		res, err := store.Append(context.Background(), ref, streams.Position{}, []streams.Event{{Type: "Noted", Data: []byte(`{}`)}})
		require.NoError(t, err)
		last = res.Position.Sequence
	}
	return last
}

// gatedProjection counts notes; while gate is set its Apply waits for it.
func gatedProjection(gate *atomic.Pointer[chan struct{}]) projections.Projection {
	return projections.Projection{Name: "notes", Subjects: []string{"events.note.>"},
		Apply: func(ctx context.Context, tx *projections.Tx, ev streams.Recorded) error {
			if g := gate.Load(); g != nil {
				<-*g
			}
			tx.Incr(ctx, tx.Keys.Key("count"))
			return nil
		}}
}

func TestReaderIsNotReadyWhileItsProjectionsAreFarBehind(t *testing.T) {
	n := testkit.StartNATS(t)
	rdb := testkit.StartRedis(t).Client(t)
	store, err := streams.Open(context.Background(), n.Connect())
	require.NoError(t, err)
	appendEvents(t, store, "note", 30)
	lag := service.ProjectionLag(store.JetStream(), streams.DefaultStream, "", rdb, reader.LastSequenceOf(store.JetStream(), streams.DefaultStream))
	check := service.LagCheck(lag, []string{"notes"}, 10)

	err = check(context.Background())
	require.Error(t, err, "nothing projected yet: 30 events behind, bound 10")
	assert.Contains(t, err.Error(), "notes is 30 events behind")

	var gate atomic.Pointer[chan struct{}]
	r, err := projections.NewRunner(store.JetStream(), rdb, []projections.Projection{gatedProjection(&gate)},
		projections.WithFetchWait(50*time.Millisecond))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	testkit.Eventually(t, 10*time.Second, func() bool { return check(context.Background()) == nil },
		"ready once the projection caught up")

	// Events of another type after the projection's own: none is for it.
	appendEvents(t, store, "other", 30)
	n0, err := lag(context.Background(), "notes")
	require.NoError(t, err)
	assert.Zero(t, n0, "no event of its subjects left to apply, whatever follows in the stream")
	assert.NoError(t, check(context.Background()))

	// Its own events while it cannot apply them: counted, and only those.
	hold := make(chan struct{})
	gate.Store(&hold)
	defer close(hold)
	for i := range 25 {
		ref, err := streams.NewRef("note", fmt.Sprintf("y%d", i))
		require.NoError(t, err)
		_, err = store.Append(context.Background(), ref, streams.Position{}, []streams.Event{{Type: "Noted", Data: []byte(`{}`)}})
		require.NoError(t, err)
	}
	appendEvents(t, store, "misc", 5)
	testkit.Eventually(t, 10*time.Second, func() bool {
		n, err := lag(context.Background(), "notes")
		return err == nil && n == 25
	}, "25 events of its own to apply")
	assert.ErrorContains(t, check(context.Background()), "notes is 25 events behind")
}

func TestProjectorIsNotReadyWhileItRebuilds(t *testing.T) {
	n := testkit.StartNATS(t)
	rdb := testkit.StartRedis(t).Client(t)
	store, err := streams.Open(context.Background(), n.Connect())
	require.NoError(t, err)
	appendEvents(t, store, "note", 5)
	var gate atomic.Pointer[chan struct{}]
	r, err := projections.NewRunner(store.JetStream(), rdb, []projections.Projection{gatedProjection(&gate)},
		projections.WithFetchWait(50*time.Millisecond))
	require.NoError(t, err)
	check := service.RebuildCheck(r)
	require.NoError(t, check(context.Background()))

	hold := make(chan struct{})
	gate.Store(&hold)
	rebuilt := make(chan error, 1)
	go func() { rebuilt <- r.Rebuild(context.Background(), "notes") }()
	testkit.Eventually(t, 10*time.Second, func() bool { return check(context.Background()) != nil },
		"not ready while the rebuild runs")
	assert.ErrorContains(t, check(context.Background()), "rebuilding notes")
	gate.Store(nil)
	close(hold)
	require.NoError(t, <-rebuilt)
	assert.NoError(t, check(context.Background()), "ready again after the rebuild")
}
