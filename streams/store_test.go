package streams_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

func TestOpenIsIdempotent(t *testing.T) {
	f := newFixture(t)
	nc := f.nats.Connect()
	for range 3 {
		_, err := streams.Open(testCtx(t), nc)
		require.NoError(t, err)
	}
	info, err := f.store.JetStream().Stream(testCtx(t), "EVENTS")
	require.NoError(t, err)
	cfg := info.CachedInfo().Config
	assert.Equal(t, []string{"events.>"}, cfg.Subjects)
	assert.True(t, cfg.DenyDelete)
	assert.True(t, cfg.DenyPurge)
	assert.True(t, cfg.AllowDirect)
	assert.True(t, cfg.AllowAtomicPublish)
	assert.False(t, cfg.AllowMsgSchedules)
	assert.Equal(t, int64(-1), cfg.MaxMsgsPerSubject)
	assert.Equal(t, jetstream.FileStorage, cfg.Storage)
	assert.Equal(t, streams.DefaultDuplicateWindow, cfg.Duplicates)
}

func TestOpenRefusesIncompatibleStream(t *testing.T) {
	n := testkit.StartNATS(t)
	nc := n.Connect()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	cfg := streams.StreamConfig(streams.Options{Stream: "EVENTS", Replicas: 1, DuplicateWindow: streams.DefaultDuplicateWindow})
	cfg.DenyPurge = false
	cfg.MaxAge = 0
	cfg.MaxMsgs = 1000
	_, err = js.CreateStream(testCtx(t), cfg)
	require.NoError(t, err)

	_, err = streams.Open(testCtx(t), nc)
	require.ErrorIs(t, err, streams.ErrIncompatibleStream)
	assert.Contains(t, err.Error(), "deny_purge is off")
	assert.Contains(t, err.Error(), "max_msgs 1000")
}

func TestOpenRejectsBadOptions(t *testing.T) {
	n := testkit.StartNATS(t)
	_, err := streams.Open(testCtx(t), n.Connect(), streams.WithStream("EV.ENTS"), streams.WithReplicas(0))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `invalid stream name "EV.ENTS"`)
	assert.Contains(t, err.Error(), "replicas must be 1 to 5, got 0")
}

func TestDeleteAndPurgeAreRefusedByTheServer(t *testing.T) {
	f := newFixture(t)
	ref := mustRef(t, "tally", "t1")
	res, err := f.store.Append(testCtx(t), ref, streams.Position{}, addedEvents(1, 3))
	require.NoError(t, err)

	stream, err := f.store.JetStream().Stream(testCtx(t), "EVENTS")
	require.NoError(t, err)
	err = stream.DeleteMsg(testCtx(t), uint64(res.Position.Sequence))
	require.Error(t, err, "delete must be refused")
	err = stream.SecureDeleteMsg(testCtx(t), uint64(res.Position.Sequence))
	require.Error(t, err, "secure delete must be refused")
	err = stream.Purge(testCtx(t))
	require.Error(t, err, "purge must be refused")
	err = stream.Purge(testCtx(t), jetstream.WithPurgeSubject(ref.Subject()))
	require.Error(t, err, "subject purge must be refused")

	requireContiguous(t, readAll(t, f.store, ref), 3)
}

// Sixteen writers append to one aggregate without coordination, each retrying
// on conflict from a fresh head: every append lands exactly once.
func TestConcurrentAppendsToOneAggregateLandExactlyOnce(t *testing.T) {
	f := newFixture(t)
	ref := mustRef(t, "tally", "hot")
	const writers, perWriter = 16, 10
	var wg sync.WaitGroup
	conflicts := make([]int, writers)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				n := int64(w*1000 + i)
				for {
					head, err := f.store.Head(testCtx(t), ref)
					if err != nil {
						errs <- err
						return
					}
					_, err = f.store.Append(testCtx(t), ref, head, []streams.Event{addedEvent(n)})
					if errors.Is(err, streams.ErrConflict) {
						conflicts[w]++
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	events := readAll(t, f.store, ref)
	requireContiguous(t, events, writers*perWriter)
	seen := map[string]int{}
	for _, e := range events {
		seen[string(e.Data)]++
	}
	for w := range writers {
		for i := range perWriter {
			key := string(addedEvent(int64(w*1000 + i)).Data)
			assert.Equal(t, 1, seen[key], "append %s must land exactly once", key)
		}
	}
	total := 0
	for _, c := range conflicts {
		total += c
	}
	t.Logf("%d conflicts retried", total)
}

func TestConflictErrorCarriesExpectedAndActual(t *testing.T) {
	f := newFixture(t)
	ref := mustRef(t, "tally", "c1")
	first, err := f.store.Append(testCtx(t), ref, streams.Position{}, addedEvents(1, 2))
	require.NoError(t, err)
	_, err = f.store.Append(testCtx(t), ref, first.Position, addedEvents(3, 1))
	require.NoError(t, err)

	_, err = f.store.Append(testCtx(t), ref, first.Position, addedEvents(9, 1))
	require.ErrorIs(t, err, streams.ErrConflict)
	var ce *streams.ConflictError
	require.True(t, errors.As(err, &ce))
	assert.Equal(t, first.Position, ce.Expected)
	assert.Equal(t, streams.Version(3), ce.Actual.Version)
	assert.Greater(t, ce.Actual.Sequence, first.Position.Sequence)
	assert.Contains(t, err.Error(), "expected version 2")

	// Creating an aggregate that exists is a conflict too.
	_, err = f.store.Append(testCtx(t), ref, streams.Position{}, addedEvents(9, 1))
	require.ErrorIs(t, err, streams.ErrConflict)
}

func TestMultiEventAppendThatConflictsAppendsNothing(t *testing.T) {
	f := newFixture(t)
	ref := mustRef(t, "tally", "m1")
	first, err := f.store.Append(testCtx(t), ref, streams.Position{}, addedEvents(1, 1))
	require.NoError(t, err)
	_, err = f.store.Append(testCtx(t), ref, first.Position, addedEvents(2, 1))
	require.NoError(t, err)

	_, err = f.store.Append(testCtx(t), ref, first.Position, addedEvents(100, 5))
	require.ErrorIs(t, err, streams.ErrConflict)
	requireContiguous(t, readAll(t, f.store, ref), 2)

	// The stream as a whole holds only the three events stored.
	stream, err := f.store.JetStream().Stream(testCtx(t), "EVENTS")
	require.NoError(t, err)
	info, err := stream.Info(testCtx(t))
	require.NoError(t, err)
	assert.Equal(t, uint64(2), info.State.Msgs)
}

func TestMultiEventAppendHasConsecutiveVersions(t *testing.T) {
	f := newFixture(t)
	ref := mustRef(t, "tally", "m2")
	other := mustRef(t, "tally", "other")
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	res, err := f.store.Append(testCtx(t), ref, streams.Position{}, addedEvents(1, 3), streams.WithCommandID("cmd-1"), streams.WithCorrelation("corr-1", "cause-1"),
		streams.WithTrace(traceparent, "vendor=1"))
	require.NoError(t, err)
	_, err = f.store.Append(testCtx(t), other, streams.Position{}, addedEvents(1, 1))
	require.NoError(t, err)
	res2, err := f.store.Append(testCtx(t), ref, res.Position, addedEvents(4, 4))
	require.NoError(t, err)
	assert.Equal(t, streams.Version(7), res2.Position.Version)

	events := readAll(t, f.store, ref)
	requireContiguous(t, events, 7)
	for i := 1; i < 3; i++ {
		assert.Equal(t, events[i-1].Sequence+1, events[i].Sequence, "one batch is contiguous in the stream")
	}
	for i, e := range res2.Events {
		assert.Equal(t, events[3+i].Sequence, e.Sequence, "Appended reports the stored sequences")
	}
	assert.Equal(t, "cmd-1", events[0].CommandID)
	assert.Equal(t, "corr-1", events[2].CorrelationID)
	assert.Equal(t, "cause-1", events[2].CausationID)
	assert.Equal(t, traceparent, events[2].TraceParent, "every event of the append carries its trace context")
	assert.Equal(t, "vendor=1", events[2].TraceState)
	assert.Empty(t, events[3].TraceParent, "an append without one adds no trace header")
	assert.Equal(t, "Added", events[0].Type)
	assert.Equal(t, 1, events[0].Schema)
	assert.False(t, events[0].Time.IsZero())
	assert.NotEmpty(t, events[0].ID)
}

func TestAppendRefusesBadInput(t *testing.T) {
	f := newFixture(t, streams.WithMaxBatch(10))
	ref := mustRef(t, "tally", "bad")
	cases := map[string]struct {
		events []streams.Event
		opts   []streams.AppendOption
		want   error
		msg    string
	}{
		"no events":        {nil, nil, streams.ErrInvalidEvent, "no events"},
		"too many":         {addedEvents(1, 11), nil, streams.ErrBatchTooLarge, "11 events, at most 10"},
		"lower-case type":  {[]streams.Event{{Type: "added", Data: []byte(`{}`)}}, nil, streams.ErrInvalidEvent, "upper-case"},
		"type with dot":    {[]streams.Event{{Type: "Add.ed", Data: []byte(`{}`)}}, nil, streams.ErrInvalidEvent, "only ASCII letters"},
		"payload not json": {[]streams.Event{{Type: "Added", Data: []byte(`{`)}}, nil, streams.ErrInvalidEvent, "not valid JSON"},
		"id with newline":  {[]streams.Event{{Type: "Added", Data: []byte(`{}`), ID: "a\nb"}}, nil, streams.ErrInvalidEvent, "line break"},
		"command id crlf":  {addedEvents(1, 1), []streams.AppendOption{streams.WithCommandID("x\r\nNats-Msg-Id: y")}, streams.ErrInvalidEvent, "command id"},
		"tracestate crlf":  {addedEvents(1, 1), []streams.AppendOption{streams.WithTrace("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "a=b\r\nEs-Type: X")}, streams.ErrInvalidEvent, "tracestate"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := f.store.Append(testCtx(t), ref, streams.Position{}, c.events, c.opts...)
			require.ErrorIs(t, err, c.want)
			assert.Contains(t, err.Error(), c.msg)
		})
	}
	_, err := f.store.Append(testCtx(t), streams.Ref{}, streams.Position{}, addedEvents(1, 1))
	require.ErrorIs(t, err, streams.ErrInvalidRef)
	assert.Empty(t, readAll(t, f.store, ref), "nothing was appended")
}

func TestAppendOverServerLimitIsRefusedWhole(t *testing.T) {
	// The store's own limit is raised past the server's 1000: the server
	// must refuse the batch whole.
	f := newFixture(t, streams.WithMaxBatch(5000))
	ref := mustRef(t, "tally", "big")
	_, err := f.store.Append(testCtx(t), ref, streams.Position{}, addedEvents(1, 1001))
	require.Error(t, err)
	assert.Empty(t, readAll(t, f.store, ref))
}

func TestDuplicateEventIDsAppendNothing(t *testing.T) {
	f := newFixture(t)
	ref := mustRef(t, "tally", "dup")
	one := []streams.Event{{Type: "Added", Data: []byte(`{"n":1}`), ID: "cmd-7-0"}}
	res, err := f.store.Append(testCtx(t), ref, streams.Position{}, one)
	require.NoError(t, err)
	_, err = f.store.Append(testCtx(t), ref, res.Position, one)
	require.ErrorIs(t, err, streams.ErrDuplicate)

	two := []streams.Event{{Type: "Added", Data: []byte(`{"n":2}`), ID: "cmd-8-0"}, {Type: "Added", Data: []byte(`{"n":3}`), ID: "cmd-8-1"}}
	res, err = f.store.Append(testCtx(t), ref, res.Position, two)
	require.NoError(t, err)
	_, err = f.store.Append(testCtx(t), ref, res.Position, two)
	require.ErrorIs(t, err, streams.ErrDuplicate)
	requireContiguous(t, readAll(t, f.store, ref), 3)
}

func TestAppendsAcknowledgedBeforeRestartSurviveIt(t *testing.T) {
	f := newFixture(t)
	refs := []streams.Ref{mustRef(t, "tally", "r1"), mustRef(t, "tally", "r2")}
	pos := map[streams.Ref]streams.Position{}
	for i := range 50 {
		ref := refs[i%2]
		res, err := f.store.Append(testCtx(t), ref, pos[ref], addedEvents(int64(i), 1+int64(i%3)))
		require.NoError(t, err)
		pos[ref] = res.Position
	}
	f.nats.Restart()

	store, err := streams.Open(testCtx(t), f.nats.Connect())
	require.NoError(t, err)
	for _, ref := range refs {
		events := readAll(t, store, ref)
		requireContiguous(t, events, int(pos[ref].Version))
		assert.Equal(t, pos[ref].Sequence, events[len(events)-1].Sequence)
	}
	// And the store keeps working after the restart, with the same positions.
	_, err = store.Append(testCtx(t), refs[0], pos[refs[0]], addedEvents(1, 1))
	require.NoError(t, err)
}

func TestAppendWhenServerIsDownIsUnavailable(t *testing.T) {
	f := newFixture(t, streams.WithTimeout(300*time.Millisecond))
	ref := mustRef(t, "tally", "down")
	// A connection that does not buffer while disconnected fails at once, so
	// nothing can be sent later behind the caller's back.
	unbuffered, err := streams.Open(testCtx(t), f.nats.Connect(nats.ReconnectBufSize(-1)))
	require.NoError(t, err)
	f.nats.Shutdown()
	_, err = unbuffered.Append(testCtx(t), ref, streams.Position{}, addedEvents(1, 1))
	require.ErrorIs(t, err, streams.ErrUnavailable)

	_, err = f.store.Append(testCtx(t), ref, streams.Position{}, addedEvents(1, 1))
	require.ErrorIs(t, err, streams.ErrUnavailable)
	_, err = f.store.Append(testCtx(t), ref, streams.Position{}, addedEvents(1, 3))
	require.ErrorIs(t, err, streams.ErrUnavailable)
	_, err = f.store.Head(testCtx(t), ref)
	require.ErrorIs(t, err, streams.ErrUnavailable)
}

// An append whose deadline has passed sends nothing: a writer's deadline is
// the fence that keeps it from appending once another took its command over.
func TestAppendPastItsDeadlineSendsNothing(t *testing.T) {
	f := newFixture(t)
	ref := mustRef(t, "tally", "late")
	late, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	for _, n := range []int64{1, 3} {
		_, err := f.store.Append(late, ref, streams.Position{}, addedEvents(1, n))
		require.Error(t, err, "%d events", n)
	}
	head, err := f.store.Head(testCtx(t), ref)
	require.NoError(t, err)
	assert.Equal(t, streams.Position{}, head, "nothing was stored")
}

func TestServerVersionCheck(t *testing.T) {
	for v, ok := range map[string]bool{"2.12.0": true, "2.15.2": true, "3.0.0": true, "2.11.9": false, "2.9.10": false, "v2.12.1-beta": true, "garbage": false} {
		err := streams.CheckServerVersion(v)
		if ok {
			assert.NoError(t, err, v)
		} else {
			assert.ErrorIs(t, err, streams.ErrServerTooOld, v)
			assert.Contains(t, err.Error(), "2.12 or newer", v)
		}
	}
}
