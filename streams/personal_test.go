package streams_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/shred"
	"github.com/jetsource/jetsource/streams"
)

const personalName = "grace.hopper-1906"

// rawData is the payload of the message at seq as any JetStream reader
// gets it.
func rawData(t *testing.T, f fixture, seq streams.Sequence) string {
	t.Helper()
	stream, err := f.store.JetStream().Stream(testCtx(t), f.store.StreamName())
	require.NoError(t, err)
	msg, err := stream.GetMsg(testCtx(t), uint64(seq))
	require.NoError(t, err)
	return string(msg.Data)
}

func TestPersonalFieldsAreStoredSealedAndReadOpened(t *testing.T) {
	f := newFixture(t)
	ref := mustRef(t, "person", "p-1")
	res, err := f.store.Append(testCtx(t), ref, streams.Position{}, []streams.Event{
		{Type: "PersonNamed", Data: []byte(`{"name":"` + personalName + `","n":1}`), Personal: []string{"name"}},
	})
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"`+personalName+`","n":1}`, string(res.Events[0].Data), "the append's records are plain")

	raw := rawData(t, f, res.Position.Sequence)
	assert.NotContains(t, raw, personalName)
	assert.True(t, strings.HasPrefix(raw, `{"n":1,"name":{"enc":"v1","kid":"`), raw)

	events := readAll(t, f.store, ref)
	require.Len(t, events, 1)
	assert.JSONEq(t, `{"name":"`+personalName+`","n":1}`, string(events[0].Data))
	assert.Empty(t, events[0].Forgotten)

	require.NoError(t, f.store.Forget(testCtx(t), ref))
	events = readAll(t, f.store, ref)
	assert.JSONEq(t, `{"name":null,"n":1}`, string(events[0].Data))
	assert.Equal(t, []string{"name"}, events[0].Forgotten)
	assert.NotContains(t, rawData(t, f, res.Position.Sequence), personalName, "the stream is unchanged and holds no plaintext")
}

func TestASealedFieldCopiedToAnotherAggregateIsACorruptEvent(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	res, err := f.store.Append(ctx, mustRef(t, "person", "p-1"), streams.Position{}, []streams.Event{
		{Type: "PersonNamed", Data: []byte(`{"name":"` + personalName + `"}`), Personal: []string{"name"}},
	})
	require.NoError(t, err)
	// p-2 gets the very key of p-1 (an attacker with the bucket's rights),
	// and p-1's ciphertext: the associated data still tells them apart.
	kv, err := f.store.JetStream().KeyValue(ctx, shred.DefaultBucket)
	require.NoError(t, err)
	key, err := kv.Get(ctx, "person.p-1")
	require.NoError(t, err)
	_, err = kv.Put(ctx, "person.p-2", key.Value())
	require.NoError(t, err)
	_, err = f.store.Append(ctx, mustRef(t, "person", "p-2"), streams.Position{}, []streams.Event{
		{Type: "PersonNamed", Data: []byte(rawData(t, f, res.Position.Sequence))},
	})
	require.NoError(t, err)
	var readErr error
	for _, err := range f.store.Read(ctx, mustRef(t, "person", "p-2"), streams.Position{}, streams.Until{}) {
		readErr = err
	}
	require.ErrorIs(t, readErr, streams.ErrCorruptEvent)
	require.ErrorIs(t, readErr, shred.ErrTampered)
	assert.NotContains(t, readErr.Error(), personalName)
}
