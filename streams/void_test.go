package streams_test

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/streams"
)

// forge publishes an event straight onto the aggregate's subject, as a
// client with publish rights on events.> could, with the version given.
func forge(t *testing.T, f fixture, ref streams.Ref, version string) uint64 {
	t.Helper()
	m := nats.NewMsg(ref.Subject())
	m.Header.Set(streams.HeaderType, "Added")
	m.Header.Set(streams.HeaderVersion, version)
	m.Data = []byte(`{"n":1000000}`)
	ack, err := f.store.JetStream().PublishMsg(testCtx(t), m)
	require.NoError(t, err)
	return ack.Sequence
}

// A forged event that repeats a version breaks the history: the aggregate
// is refused with an error naming the event, until an admin voids it; the
// correction is appended (nothing is deleted) and the aggregate loads and
// takes appends again.
func TestForgedEventIsRefusedUntilVoided(t *testing.T) {
	f := newFixture(t)
	repo, err := streams.NewRepository(f.store, tallyModel(-1))
	require.NoError(t, err)
	seed(t, repo, "v1", 2)
	ref := mustRef(t, "tally", "v1")
	forged := forge(t, f, ref, "2")

	_, err = repo.Load(testCtx(t), "v1")
	var broken *streams.BrokenHistoryError
	require.ErrorAs(t, err, &broken)
	assert.ErrorIs(t, err, streams.ErrBrokenHistory)
	assert.Equal(t, streams.Sequence(forged), broken.Sequence)
	assert.Contains(t, err.Error(), "has version 2, but the history calls for version 3")

	_, err = f.store.VoidEvent(testCtx(t), ref, streams.Sequence(forged-1), "not the broken one")
	assert.ErrorIs(t, err, streams.ErrInvalidEvent, "a valid event is never voided")
	_, err = f.store.VoidEvent(testCtx(t), ref, streams.Sequence(forged), "")
	assert.ErrorIs(t, err, streams.ErrInvalidEvent, "a reason is required")

	res, err := f.store.VoidEvent(testCtx(t), ref, streams.Sequence(forged), "forged deposit, incident 42")
	require.NoError(t, err)
	assert.Equal(t, streams.Version(3), res.Position.Version, "the correction takes the next version")

	a, err := repo.Load(testCtx(t), "v1")
	require.NoError(t, err)
	assert.Equal(t, 2, a.State.Count, "the forged event is not folded, nor is the correction")
	assert.Equal(t, res.Position, a.Position)
	a, _, err = repo.Append(testCtx(t), a, addedEvents(3, 1))
	require.NoError(t, err, "the aggregate takes commands again")
	assert.Equal(t, streams.Version(4), a.Position.Version)
	assert.Len(t, readAll(t, f.store, ref), 4, "v1, v2, the correction and v4: the forged event stays in the stream, skipped")
}
