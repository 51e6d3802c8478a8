package projections_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// gated is a projection of the account events whose Apply, once hold is
// set, waits at aggregate id until release is closed.
func gated(name, id string, hold *atomic.Bool, release <-chan struct{}) projections.Projection {
	return projections.Projection{Name: name, Subjects: []string{"events.account.>"},
		Apply: func(ctx context.Context, tx *projections.Tx, ev streams.Recorded) error {
			if hold.Load() && ev.Ref.ID() == id {
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			tx.HSet(ctx, tx.Keys.Key("seen", ev.Ref.ID()), "version", uint64(ev.Version))
			return nil
		}}
}

func TestInspectReportsTheLiveGenerationAndARebuildInProgress(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first := e.add("account", "a1", account.AccountOpened{Owner: "o"})
	e.add("account", "a2", account.AccountOpened{Owner: "o"})
	last := uint64(e.add("account", "a3", account.AccountOpened{Owner: "o"}))

	rep, err := projections.Inspect(ctx, e.rdb, "gated")
	require.NoError(t, err)
	assert.Equal(t, projections.Report{Name: "gated", State: projections.StateNew}, rep, "before any runner")

	var hold atomic.Bool
	release := make(chan struct{})
	// One event per batch: each one the rebuild applies is committed, so its
	// progress shows.
	r := e.runnerWith([]projections.Projection{gated("gated", "a2", &hold, release)}, projections.WithBatchSize(1))
	start(t, r)
	testkit.Eventually(t, 30*time.Second, func() bool {
		rep, err = projections.Inspect(ctx, e.rdb, "gated")
		return err == nil && rep.Reached >= last
	}, "the projection catches up")
	assert.Equal(t, projections.StateRunning, rep.State)
	assert.Equal(t, int64(1), rep.Generation)
	assert.Equal(t, last, rep.Checkpoint)
	assert.Nil(t, rep.Rebuild)

	hold.Store(true)
	rebuilt := make(chan error, 1)
	go func() { rebuilt <- r.Rebuild(ctx, "gated") }()
	testkit.Eventually(t, 30*time.Second, func() bool {
		rep, err = projections.Inspect(ctx, e.rdb, "gated")
		return err == nil && rep.Rebuild != nil && rep.Rebuild.Reached >= uint64(first)
	}, "the rebuild shows its progress: %+v", rep)
	assert.Equal(t, projections.StateRebuilding, rep.State)
	assert.Equal(t, int64(1), rep.Generation, "queries still read the live generation")
	assert.Equal(t, last, rep.Reached)
	assert.Equal(t, int64(2), rep.Rebuild.Generation)
	assert.Less(t, rep.Rebuild.Reached, last, "held before a2: the rebuild has not reached the end")

	close(release)
	require.NoError(t, <-rebuilt)
	rep, err = projections.Inspect(ctx, e.rdb, "gated")
	require.NoError(t, err)
	assert.Equal(t, projections.StateRunning, rep.State)
	assert.Equal(t, int64(2), rep.Generation, "switched")
	assert.Equal(t, last, rep.Reached)
	assert.Nil(t, rep.Rebuild)
}
