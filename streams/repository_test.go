package streams_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// seed appends count events to a fresh aggregate through repo, in appends of
// varying size so snapshot boundaries fall inside batches too.
func seed(t *testing.T, repo *streams.Repository[tally], id string, count int) streams.Aggregate[tally] {
	t.Helper()
	a, err := repo.Load(testCtx(t), id)
	require.NoError(t, err)
	n := int64(1)
	for int(a.Position.Version) < count {
		size := min(int64(1+n%4), int64(count)-int64(a.Position.Version))
		a, _, err = repo.Append(testCtx(t), a, addedEvents(n, size))
		require.NoError(t, err)
		n += size
	}
	return a
}

func TestLoadWithAndWithoutSnapshotsIsIdentical(t *testing.T) {
	f := newFixture(t)
	snapped, err := streams.NewRepository(f.store, tallyModel(7))
	require.NoError(t, err)
	plain, err := streams.NewRepository(f.store, tallyModel(-1))
	require.NoError(t, err)

	written := seed(t, snapped, "s1", 53)
	kv, err := f.store.JetStream().KeyValue(testCtx(t), "SNAPSHOTS")
	require.NoError(t, err)
	entry, err := kv.Get(testCtx(t), "tally.s1")
	require.NoError(t, err, "a snapshot was taken")
	var snap struct{ Version int }
	require.NoError(t, json.Unmarshal(entry.Value(), &snap))
	assert.True(t, snap.Version >= 49 && snap.Version <= 53, "latest snapshot covers the last multiple of 7, got %d", snap.Version)

	withSnap, err := snapped.Load(testCtx(t), "s1")
	require.NoError(t, err)
	without, err := plain.Load(testCtx(t), "s1")
	require.NoError(t, err)
	assert.Equal(t, without.State, withSnap.State)
	assert.Equal(t, without.Position, withSnap.Position)
	assert.Equal(t, written.State, without.State)
	assert.Equal(t, 53, without.State.Count)

	corruptions := map[string][]byte{
		"not json":         []byte("{garbage"),
		"state wrong type": []byte(`{"version":49,"sequence":49,"state_schema":0,"state":{"count":"many"}}`),
		"no position":      []byte(`{"version":0,"sequence":0,"state":{}}`),
		"other shape":      []byte(`{"version":49,"sequence":49,"state_schema":0,"shape":"x","state":{"count":1000}}`),
		"other schema":     []byte(`{"version":49,"sequence":49,"state_schema":7,"state":{"count":1000}}`),
	}
	for name, value := range corruptions {
		t.Run(name, func(t *testing.T) {
			_, err := kv.Put(testCtx(t), "tally.s1", value)
			require.NoError(t, err)
			got, err := snapped.Load(testCtx(t), "s1")
			require.NoError(t, err)
			assert.Equal(t, without.State, got.State)
			assert.Equal(t, without.Position, got.Position)
		})
	}

	// Deleting every snapshot changes no result either.
	require.NoError(t, kv.Delete(testCtx(t), "tally.s1"))
	got, err := snapped.Load(testCtx(t), "s1")
	require.NoError(t, err)
	assert.Equal(t, without.State, got.State)
}

func TestSnapshotOfChangedStateShapeIsIgnored(t *testing.T) {
	type tallyV2 struct {
		Count int   `json:"count"`
		Sum   int64 `json:"sum"`
		// Max is new: old snapshots lack it, so they must not be used.
		Max int64 `json:"max"`
	}
	f := newFixture(t)
	v1, err := streams.NewRepository(f.store, tallyModel(5))
	require.NoError(t, err)
	seed(t, v1, "shape", 12)

	v2, err := streams.NewRepository(f.store, streams.Model[tallyV2]{Type: "tally", SnapshotEvery: 5,
		Apply: func(s tallyV2, r streams.Recorded) (tallyV2, error) {
			t1, err := applyTally(tally{}, r)
			s.Count++
			s.Sum += t1.Sum
			s.Max = max(s.Max, t1.Sum)
			return s, err
		}})
	require.NoError(t, err)
	got, err := v2.Load(testCtx(t), "shape")
	require.NoError(t, err)
	assert.Equal(t, 12, got.State.Count)
	assert.Positive(t, got.State.Max, "replayed from the start, not from the v1 snapshot")
}

func TestLoadAtVersionEqualsReplayOfExactlyKEvents(t *testing.T) {
	f := newFixture(t)
	repo, err := streams.NewRepository(f.store, tallyModel(10))
	require.NoError(t, err)
	seed(t, repo, "tt", 37)
	all := readAll(t, f.store, mustRef(t, "tally", "tt"))

	for _, k := range []int{1, 2, 9, 10, 11, 20, 36, 37} {
		var want tally
		for _, r := range all[:k] {
			want, err = applyTally(want, r)
			require.NoError(t, err)
		}
		got, err := repo.LoadAt(testCtx(t), "tt", streams.Until{Version: streams.Version(k)})
		require.NoError(t, err)
		assert.Equal(t, want, got.State, "state at version %d", k)
		assert.Equal(t, all[k-1].Position(), got.Position)
	}
	// A bound past the end loads everything.
	got, err := repo.LoadAt(testCtx(t), "tt", streams.Until{Version: 1000})
	require.NoError(t, err)
	assert.Equal(t, streams.Version(37), got.Position.Version)
}

func TestLoadAtTimeStopsAtThatMoment(t *testing.T) {
	f := newFixture(t)
	repo, err := streams.NewRepository(f.store, tallyModel(2))
	require.NoError(t, err)
	a := seed(t, repo, "when", 5)
	// The clock must move on between the two groups of events.
	mark := time.Now().UTC()
	time.Sleep(2 * time.Millisecond)
	_, _, err = repo.Append(testCtx(t), a, addedEvents(100, 5))
	require.NoError(t, err)

	got, err := repo.LoadAt(testCtx(t), "when", streams.Until{Time: mark})
	require.NoError(t, err)
	assert.Equal(t, streams.Version(5), got.Position.Version)
	assert.Equal(t, a.State, got.State)
}

func TestLoadOfUnknownAggregateDoesNotExist(t *testing.T) {
	f := newFixture(t)
	repo, err := streams.NewRepository(f.store, tallyModel(0))
	require.NoError(t, err)
	a, err := repo.Load(testCtx(t), "nobody")
	require.NoError(t, err)
	assert.False(t, a.Exists())
	assert.Equal(t, streams.Position{}, a.Position)

	_, err = repo.Load(testCtx(t), "bad.id")
	require.ErrorIs(t, err, streams.ErrInvalidRef)
}

func TestShortLoadCreatesNoConsumerAndALongOneLeavesNone(t *testing.T) {
	f := newFixture(t)
	repo, err := streams.NewRepository(f.store, tallyModel(-1))
	require.NoError(t, err)
	consumers := func() int {
		stream, err := f.store.JetStream().Stream(testCtx(t), "EVENTS")
		require.NoError(t, err)
		info, err := stream.Info(testCtx(t))
		require.NoError(t, err)
		return info.State.Consumers
	}
	seed(t, repo, "short", streams.DefaultShortRead)
	for range 3 {
		a, err := repo.Load(testCtx(t), "short")
		require.NoError(t, err)
		require.Equal(t, streams.DefaultShortRead, a.State.Count)
	}
	assert.Zero(t, consumers(), "a short load reads with direct gets alone")

	appendTally(t, f.store, mustRef(t, "tally", "long"), 2500, nil)
	for range 3 {
		a, err := repo.Load(testCtx(t), "long")
		require.NoError(t, err)
		require.Equal(t, 2500, a.State.Count)
	}
	// A long load's consumer outlives it only until the server sees nobody
	// listens to it.
	testkit.Eventually(t, 15*time.Second, func() bool { return consumers() == 0 }, "long loads left consumers behind")
}

func TestReadRefusesCorruptEvents(t *testing.T) {
	f := newFixture(t)
	ref := mustRef(t, "tally", "corrupt")
	js := f.store.JetStream()
	// A foreign publisher writes to the subject without the event headers.
	_, err := js.Publish(testCtx(t), ref.Subject(), []byte(`{"n":1}`))
	require.NoError(t, err)
	var gotErr error
	for _, err := range f.store.Read(testCtx(t), ref, streams.Position{}, streams.Until{}) {
		gotErr = err
	}
	require.ErrorIs(t, gotErr, streams.ErrCorruptEvent)
	assert.Contains(t, gotErr.Error(), "no Es-Type header")
}

// TestSnapshotNeverChangesAResultWhenAnElementFieldIsRenamed: the state's
// own fields stay the same, only a field of its slice's elements is renamed;
// the old snapshot would load with that field zeroed, so it must be ignored.
func TestSnapshotNeverChangesAResultWhenAnElementFieldIsRenamed(t *testing.T) {
	type itemV1 struct {
		ID  int64 `json:"id"`
		Qty int64 `json:"quantity"`
	}
	type itemV2 struct {
		ID    int64 `json:"id"`
		Count int64 `json:"count"`
	}
	type basketV1 struct {
		Items []itemV1 `json:"items"`
	}
	type basketV2 struct {
		Items []itemV2 `json:"items"`
	}
	f := newFixture(t)
	v1, err := streams.NewRepository(f.store, streams.Model[basketV1]{Type: "basket", SnapshotEvery: 5,
		Apply: func(s basketV1, r streams.Recorded) (basketV1, error) {
			t1, err := applyTally(tally{}, r)
			s.Items = append(s.Items, itemV1{ID: t1.Sum, Qty: t1.Sum})
			return s, err
		}})
	require.NoError(t, err)
	a, err := v1.Load(testCtx(t), "b1")
	require.NoError(t, err)
	for n := int64(1); n <= 12; n++ {
		a, _, err = v1.Append(testCtx(t), a, addedEvents(n, 1))
		require.NoError(t, err)
	}
	kv, err := f.store.JetStream().KeyValue(testCtx(t), "SNAPSHOTS")
	require.NoError(t, err)
	_, err = kv.Get(testCtx(t), "basket.b1")
	require.NoError(t, err, "v1 took a snapshot")

	v2, err := streams.NewRepository(f.store, streams.Model[basketV2]{Type: "basket", SnapshotEvery: 5,
		Apply: func(s basketV2, r streams.Recorded) (basketV2, error) {
			t1, err := applyTally(tally{}, r)
			s.Items = append(s.Items, itemV2{ID: t1.Sum, Count: t1.Sum})
			return s, err
		}})
	require.NoError(t, err)
	got, err := v2.Load(testCtx(t), "b1")
	require.NoError(t, err)
	require.Len(t, got.State.Items, 12)
	for i, it := range got.State.Items {
		assert.Equal(t, int64(i+1), it.Count, "item %d replayed, not read from the v1 snapshot with the field zeroed", i)
	}
}

// Long loads never fill the stream with their consumers: a store keeps at
// most MaxReadConsumers of them on the server (those the server has still to
// remove included), so that the projectors' consumers always find room; past
// that, and when the server's consumer limit is reached, loads read with
// direct gets and stay whole.
func TestLongLoadsLeaveRoomForTheProjectorsConsumers(t *testing.T) {
	const limit = streams.MaxReadConsumers + 8
	n := testkit.StartNATS(t, func(o *server.Options) { o.JetStreamLimits.DefaultMaxConsumers = limit })
	// The loads past the cap read with direct gets, all at once: on a
	// loaded 2-core machine under -race they take longer than the default
	// timeout, which this test is not about.
	store, err := streams.Open(testCtx(t), n.Connect(), streams.WithTimeout(25*time.Second))
	require.NoError(t, err)
	repo, err := streams.NewRepository(store, tallyModel(-1))
	require.NoError(t, err)
	appendTally(t, store, mustRef(t, "tally", "long"), 200, nil)
	consumers := func() int {
		stream, err := store.JetStream().Stream(testCtx(t), "EVENTS")
		require.NoError(t, err)
		info, err := stream.Info(testCtx(t))
		require.NoError(t, err)
		return info.State.Consumers
	}

	var wg sync.WaitGroup
	for range 2 * streams.MaxReadConsumers {
		wg.Go(func() {
			a, err := repo.Load(testCtx(t), "long")
			assert.NoError(t, err)
			assert.Equal(t, 200, a.State.Count)
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, consumers(), streams.MaxReadConsumers, "one store's long loads hold at most MaxReadConsumers consumers")

	// Another process's reads fill the stream up to the server's limit but
	// for the consumer a projector needs now: it is created, and loads go on.
	js := store.JetStream()
	others := limit - consumers() - 1
	for i := range others {
		_, err := js.CreateConsumer(testCtx(t), "EVENTS", jetstream.ConsumerConfig{
			Name: fmt.Sprintf("other-%d", i), FilterSubject: "events.tally.long", InactiveThreshold: time.Minute})
		require.NoError(t, err)
	}
	_, err = js.CreateConsumer(testCtx(t), "EVENTS", jetstream.ConsumerConfig{Durable: "projector", FilterSubject: "events.>"})
	require.NoError(t, err, "the projector's consumer finds room")
	for range 3 {
		a, err := repo.Load(testCtx(t), "long")
		require.NoError(t, err, "a load on a stream full of consumers reads with direct gets")
		assert.Equal(t, 200, a.State.Count)
	}
}
