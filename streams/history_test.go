package streams_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/streams"
)

// History is the record as stored: the forged event Read skips once voided,
// and the correction, each with its headers; a bound stops it as it stops
// Read.
func TestHistoryYieldsEveryStoredEventWithItsHeaders(t *testing.T) {
	f := newFixture(t)
	repo, err := streams.NewRepository(f.store, tallyModel(-1))
	require.NoError(t, err)
	seed(t, repo, "h1", 2)
	ref := mustRef(t, "tally", "h1")
	forged := forge(t, f, ref, "2")
	res, err := f.store.VoidEvent(testCtx(t), ref, streams.Sequence(forged), "forged")
	require.NoError(t, err)

	var got []streams.Stored
	for st, err := range f.store.History(testCtx(t), ref, streams.Until{}) {
		require.NoError(t, err)
		got = append(got, st)
	}
	require.Len(t, got, 4, "two events, the forged one, the correction")
	assert.Equal(t, []streams.Version{1, 2, 2, 3}, []streams.Version{got[0].Version, got[1].Version, got[2].Version, got[3].Version})
	assert.Equal(t, streams.Sequence(forged), got[2].Sequence)
	assert.Equal(t, streams.VoidType, got[3].Type)
	assert.Equal(t, res.Position.Sequence, got[3].Sequence)
	assert.Equal(t, "1", got[0].Header.Get(streams.HeaderVersion))
	assert.NotEmpty(t, got[0].Header.Get(streams.HeaderMsgID))
	assert.Len(t, readAll(t, f.store, ref), 3, "Read skips the voided event")

	var upTo2 []streams.Stored
	for st, err := range f.store.History(testCtx(t), ref, streams.Until{Version: 2}) {
		require.NoError(t, err)
		upTo2 = append(upTo2, st)
	}
	assert.Len(t, upTo2, 3, "the forged version 2 is within the bound, the correction (3) is not")

	for _, err := range f.store.History(testCtx(t), mustRef(t, "tally", "none"), streams.Until{}) {
		t.Fatalf("an aggregate without events yields nothing, got %v", err)
	}
}

// Inspect reports the snapshot a load started from, and replays every event
// when asked to: both give the same state.
func TestInspectReportsTheSnapshotItStartedFrom(t *testing.T) {
	f := newFixture(t)
	repo, err := streams.NewRepository(f.store, tallyModel(2))
	require.NoError(t, err)
	seed(t, repo, "s1", 5)

	a, from, err := repo.Inspect(testCtx(t), "s1", streams.Until{}, true)
	require.NoError(t, err)
	assert.Equal(t, streams.Version(5), from.Version, "the snapshot of the append that crossed version 4")
	b, none, err := repo.Inspect(testCtx(t), "s1", streams.Until{}, false)
	require.NoError(t, err)
	assert.Zero(t, none)
	assert.Equal(t, a.State, b.State)
	assert.Equal(t, a.Position, b.Position)

	_, from, err = repo.Inspect(testCtx(t), "s1", streams.Until{Version: 3}, true)
	require.NoError(t, err)
	assert.Zero(t, from, "the snapshot lies beyond the bound")
}
