package streams_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// appendTally appends count Added events (amounts 1…count) to ref in
// batches of up to 500; with other set, each batch is followed by one event
// of other, so that ref's events lie spread over the stream.
func appendTally(t *testing.T, store *streams.Store, ref streams.Ref, count int, other *streams.Ref) streams.Position {
	t.Helper()
	var pos, otherPos streams.Position
	for int(pos.Version) < count {
		n := min(500, count-int(pos.Version))
		res, err := store.Append(testCtx(t), ref, pos, addedEvents(int64(pos.Version)+1, int64(n)))
		require.NoError(t, err)
		pos = res.Position
		if other != nil {
			res, err := store.Append(testCtx(t), *other, otherPos, addedEvents(1, 1))
			require.NoError(t, err)
			otherPos = res.Position
		}
	}
	return pos
}

// requireAmounts checks a read of 1…n in order, versions and amounts.
func requireAmounts(t *testing.T, events []streams.Recorded, from, n int) {
	t.Helper()
	require.Len(t, events, n-from)
	for i, e := range events {
		require.Equal(t, streams.Version(from+i+1), e.Version, "event %d", i)
		var a added
		require.NoError(t, json.Unmarshal(e.Data, &a))
		require.Equal(t, int64(from+i+1), a.N, "event %d", i)
		if i > 0 {
			require.Greater(t, e.Sequence, events[i-1].Sequence)
		}
	}
}

func consumerCount(t *testing.T, store *streams.Store) int {
	t.Helper()
	stream, err := store.JetStream().Stream(testCtx(t), "EVENTS")
	require.NoError(t, err)
	info, err := stream.Info(testCtx(t))
	require.NoError(t, err)
	return info.State.Consumers
}

func TestLongReadStreamsEveryEventInOrderThroughAConsumer(t *testing.T) {
	f := newFixture(t)
	ref, other := mustRef(t, "tally", "long"), mustRef(t, "tally", "other")
	appendTally(t, f.store, ref, 2600, &other)

	var events []streams.Recorded
	for r, err := range f.store.Read(testCtx(t), ref, streams.Position{}, streams.Until{}) {
		require.NoError(t, err)
		events = append(events, r)
		if len(events) == 1000 {
			assert.Positive(t, consumerCount(t, f.store), "a long read streams with a consumer")
		}
	}
	requireAmounts(t, events, 0, 2600)
}

func TestReadsAcrossTheThresholdAreWholeAndInOrder(t *testing.T) {
	f := newFixture(t, streams.WithShortRead(4), streams.WithLongRead(4))
	// 3, 4: the first direct get alone; 5 to 7: then direct gets (less
	// than 4 left); 8 and more: then a consumer.
	for _, n := range []int{3, 4, 5, 7, 8, 9, 40} {
		ref, other := mustRef(t, "tally", fmt.Sprintf("n%d", n)), mustRef(t, "tally", fmt.Sprintf("other%d", n))
		appendTally(t, f.store, ref, n, &other)
		requireAmounts(t, readAll(t, f.store, ref), 0, n)
		// From a position inside the history, as after a snapshot.
		all := readAll(t, f.store, ref)
		for _, from := range []int{1, n / 2, n - 1} {
			var got []streams.Recorded
			for r, err := range f.store.Read(testCtx(t), ref, all[from-1].Position(), streams.Until{}) {
				require.NoError(t, err)
				got = append(got, r)
			}
			requireAmounts(t, got, from, n)
		}
	}
}

func TestLoadAtAVersionInTheMiddleOfALongHistory(t *testing.T) {
	f := newFixture(t)
	repo, err := streams.NewRepository(f.store, tallyModel(-1))
	require.NoError(t, err)
	ref, other := mustRef(t, "tally", "mid"), mustRef(t, "tally", "other")
	appendTally(t, f.store, ref, 3000, &other)

	a, err := repo.LoadAt(testCtx(t), "mid", streams.Until{Version: 1700})
	require.NoError(t, err)
	assert.Equal(t, 1700, a.State.Count)
	assert.Equal(t, int64(1700*1701/2), a.State.Sum)
	assert.Equal(t, []int64{1698, 1699, 1700}, a.State.Last)
	assert.Equal(t, streams.Version(1700), a.Position.Version)

	// A time bound in the middle: every event after it is left out.
	events := readAll(t, f.store, ref)
	at := events[2199].Time
	var upTo int
	for _, e := range events {
		if !e.Time.After(at) {
			upTo++
		}
	}
	a, err = repo.LoadAt(testCtx(t), "mid", streams.Until{Time: at})
	require.NoError(t, err)
	assert.Equal(t, upTo, a.State.Count)
	assert.GreaterOrEqual(t, upTo, 2200)
}

func TestCutLongReadIsUnavailableNeverShort(t *testing.T) {
	f := newFixture(t)
	ref := mustRef(t, "tally", "cut")
	const n = 20_000
	appendTally(t, f.store, ref, n, nil)
	reader, err := streams.Open(testCtx(t), f.nats.Connect(), streams.WithTimeout(time.Second))
	require.NoError(t, err)

	got := 0
	var readErr error
	for _, err := range reader.Read(testCtx(t), ref, streams.Position{}, streams.Until{}) {
		if err != nil {
			readErr = err
			break
		}
		got++
		if got == 100 {
			// The server stops while the read streams: it holds back
			// what its flow control window does not cover.
			f.nats.Shutdown()
		}
	}
	require.ErrorIs(t, readErr, streams.ErrUnavailable)
	assert.Less(t, got, n)
}

func TestLongReadFallsBackToDirectGetsWhenConsumersAreRefused(t *testing.T) {
	n := testkit.StartNATS(t, func(o *server.Options) {
		o.Users = []*server.User{{Username: "w", Password: "w", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"$JS.API.CONSUMER.CREATE.>"}},
		}}}
	})
	writer, err := streams.Open(testCtx(t), n.Connect(nats.UserInfo("w", "w")))
	require.NoError(t, err)
	ref := mustRef(t, "tally", "refused")
	appendTally(t, writer, ref, 1200, nil)
	// A short timeout, for the unanswered creation; small batches, so that
	// each direct get answers within it on a loaded machine.
	store, err := streams.Open(testCtx(t), n.Connect(nats.UserInfo("w", "w")),
		streams.WithTimeout(2*time.Second), streams.WithReadBatch(100))
	require.NoError(t, err)

	for range 2 { // the second read does not ask again
		start := time.Now()
		requireAmounts(t, readAll(t, store, ref), 0, 1200)
		t.Logf("read in %v", time.Since(start))
	}
	assert.Zero(t, consumerCount(t, store))
}

// apiWatch sees the JetStream API requests of the event stream as a plain
// subscriber: direct gets, and consumer creations.
type apiWatch struct {
	observer      *nats.Conn
	gets, creates *nats.Subscription
}

func watchAPI(t *testing.T, observer *nats.Conn) *apiWatch {
	t.Helper()
	w := &apiWatch{observer: observer}
	var err error
	w.gets, err = observer.SubscribeSync("$JS.API.DIRECT.GET.EVENTS")
	require.NoError(t, err)
	w.creates, err = observer.SubscribeSync("$JS.API.CONSUMER.CREATE.EVENTS")
	require.NoError(t, err)
	require.NoError(t, observer.Flush())
	return w
}

// during returns the direct gets of subject and the consumer creations that
// do sends through store. Once both connections flushed, every request sent
// waits in the observer's subscriptions: the server forwarded it before it
// answered the observer's ping, and the observer queued it before the pong.
func (w *apiWatch) during(t *testing.T, store *streams.Store, subject string, do func()) (gets, creates int) {
	t.Helper()
	drain := func(sub *nats.Subscription, each func(*nats.Msg)) {
		require.NoError(t, store.JetStream().Conn().Flush())
		require.NoError(t, w.observer.Flush())
		for {
			m, err := sub.NextMsg(time.Millisecond)
			if err != nil {
				return
			}
			each(m)
		}
	}
	drain(w.gets, func(*nats.Msg) {})
	drain(w.creates, func(*nats.Msg) {})
	do()
	drain(w.gets, func(m *nats.Msg) {
		var req struct {
			NextFor string `json:"next_by_subj"`
		}
		require.NoError(t, json.Unmarshal(m.Data, &req))
		if req.NextFor == subject {
			gets++
		}
	})
	drain(w.creates, func(*nats.Msg) { creates++ })
	return gets, creates
}

func TestWholeHistoriesOfALongTypeStartWithTheirConsumer(t *testing.T) {
	f := newFixture(t)
	observer := f.nats.Connect()
	w := watchAPI(t, observer)
	repo, err := streams.NewRepository(f.store, tallyModel(-1))
	require.NoError(t, err)
	long, short, other := mustRef(t, "tally", "long"), mustRef(t, "tally", "short"), mustRef(t, "tally", "other")
	appendTally(t, f.store, long, 300, &other)
	appendTally(t, f.store, short, 3, nil)

	load := func(id string, want int) func() {
		return func() {
			a, err := repo.Load(testCtx(t), id)
			require.NoError(t, err)
			require.Equal(t, want, a.State.Count)
			require.Equal(t, int64(want*(want+1)/2), a.State.Sum)
		}
	}
	// Unknown lengths: a direct get first, then the consumer.
	gets, creates := w.during(t, f.store, long.Subject(), load("long", 300))
	assert.Equal(t, 1, gets, "the first load of a type probes with a direct get")
	assert.Equal(t, 1, creates)
	for range 3 {
		load("long", 300)()
	}
	// Four long whole histories: the next starts with its consumer alone.
	gets, creates = w.during(t, f.store, long.Subject(), load("long", 300))
	assert.Zero(t, gets, "a long type's whole history starts with its consumer")
	assert.Equal(t, 1, creates)

	// A short or empty aggregate of the type reads whole through the
	// consumer too (its creation counts what there is to deliver).
	gets, creates = w.during(t, f.store, short.Subject(), load("short", 3))
	assert.Zero(t, gets)
	assert.Equal(t, 1, creates)
	gets, creates = w.during(t, f.store, mustRef(t, "tally", "empty").Subject(), load("empty", 0))
	assert.Zero(t, gets)
	assert.Equal(t, 1, creates)

	// Short histories turn the type back to a direct get first.
	for range 4 {
		load("short", 3)()
	}
	gets, creates = w.during(t, f.store, short.Subject(), load("short", 3))
	assert.Equal(t, 1, gets, "a short type's history starts with a direct get")
	assert.Zero(t, creates)
}
