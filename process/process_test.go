package process_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/process"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

func TestCommandIDIsDeterministicAndValid(t *testing.T) {
	assert.Equal(t, "9_transfers-8_transfer-2_t1-8_withdraw", process.CommandID("transfers", "transfer", "t1", "withdraw"))
	long := strings.Repeat("x", 128)
	a, b := process.CommandID("transfers", "transfer", long, "withdraw"), process.CommandID("transfers", "transfer", long, "deposit")
	assert.NotEqual(t, a, b)
	assert.Equal(t, a, process.CommandID("transfers", "transfer", long, "withdraw"))
	assert.Regexp(t, `^pm-[0-9a-f]{64}$`, a)
	assert.NotEqual(t, process.CommandID("transfers", "transfer", "t1-start", "deposit"),
		process.CommandID("transfers", "transfer", "t1", "start-deposit"), "parts holding '-' never collide")
	assert.NotEqual(t, process.CommandID("a_b", "c"), process.CommandID("a", "b_c"))
}

func TestNewRefusesAnIncompleteProcess(t *testing.T) {
	n := testkit.StartNATS(t)
	store, err := streams.Open(context.Background(), n.Connect())
	require.NoError(t, err)
	react := func(context.Context, *process.Commands, streams.Recorded) error { return nil }
	for _, c := range []struct {
		p    process.Process
		says string
	}{
		{process.Process{Name: "Bad.Name", Subjects: []string{"events.x.>"}, React: react}, "must match"},
		{process.Process{Name: "ok", React: react}, "no subjects"},
		{process.Process{Name: "ok", Subjects: []string{"events.x.>"}}, "React is required"},
	} {
		_, err := process.New(n.Connect(), store, c.p, process.Options{})
		assert.ErrorContains(t, err, c.says)
	}
	// On a layout of several streams, a subject of a type in none of them.
	n2 := testkit.StartNATS(t)
	multi, err := streams.Open(context.Background(), n2.Connect(), streams.WithLayout(twoStreams))
	require.NoError(t, err)
	_, err = process.New(n2.Connect(), multi, process.Process{Name: "ok", Subjects: []string{"events.thing.>", "events.invoice.>"}, React: react}, process.Options{})
	require.ErrorIs(t, err, streams.ErrUnroutedType)
	assert.ErrorContains(t, err, "process ok: streams: aggregate type in no event stream: subject events.invoice.> is of aggregate type invoice, in none of the streams ALPHA(thing) BETA(other,gadget)")
}

// twoStreams is the layout of the multi-stream tests.
var twoStreams = streams.Layout{
	{Name: "ALPHA", Types: []string{"thing"}},
	{Name: "BETA", Types: []string{"other", "gadget"}},
}

// A process following the types of two streams has a consumer of the same
// name on each, and handles the events of both: each instance in stream
// order, each command once, every event acknowledged, none of a type it
// does not follow.
func TestAProcessFollowsItsSubjectsInEveryStream(t *testing.T) {
	const nInstances, nEvents = 6, 5
	n := testkit.StartNATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := streams.Open(ctx, n.Connect(), streams.WithLayout(twoStreams))
	require.NoError(t, err)
	commands := probeWriter(t, n.Connect())
	in := newInstances()
	p := process.Process{Name: "probe", Subjects: []string{"events.thing.>", "events.gadget.>"},
		React: func(ctx context.Context, c *process.Commands, ev streams.Recorded) error {
			key, v := ev.Ref.Type()+"."+ev.Ref.ID(), int(ev.Version)
			in.enter(key, v)
			defer in.leave(key)
			if _, err := c.Send(ctx, "probe", "note", ev.Ref.Type()+"-"+ev.Ref.ID(), "step-"+strconvI(v), nil); err != nil {
				return err
			}
			in.handled(key, v)
			return nil
		}}
	m, err := process.New(n.Connect(), store, p, process.Options{Retry: 50 * time.Millisecond, Workers: 4})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	nc := n.Connect()
	for v := 1; v <= nEvents; v++ {
		for i := range nInstances {
			publish(t, nc, fmt.Sprintf("events.thing.t%d", i), v, "")
			publish(t, nc, fmt.Sprintf("events.gadget.g%d", i), v, "")
			publish(t, nc, fmt.Sprintf("events.other.o%d", i), v, "")
		}
	}
	testkit.Eventually(t, 60*time.Second, func() bool { return in.count() == 2*nInstances*nEvents },
		"every event followed handled")
	consumer := process.ConsumerName("", "probe", false)
	for _, stream := range []string{"ALPHA", "BETA"} {
		testkit.Eventually(t, 20*time.Second, func() bool { return settledOn(t, store.JetStream(), stream, consumer) },
			"every event of %s acknowledged", stream)
	}
	info, err := store.JetStream().Stream(ctx, "BETA")
	require.NoError(t, err)
	c, err := info.Consumer(ctx, consumer)
	require.NoError(t, err)
	assert.Equal(t, []string{"events.gadget.>"}, c.CachedInfo().Config.FilterSubjects, "BETA's consumer follows only the type followed")

	in.mu.Lock()
	want := []int{1, 2, 3, 4, 5}
	for i := range nInstances {
		assert.Equal(t, want, in.seen[fmt.Sprintf("thing.t%d", i)], "thing t%d in stream order", i)
		assert.Equal(t, want, in.seen[fmt.Sprintf("gadget.g%d", i)], "gadget g%d in stream order", i)
	}
	assert.Len(t, in.seen, 2*nInstances, "no event of a type not followed")
	assert.Empty(t, in.overlaps, "no two events of one instance at once")
	in.mu.Unlock()
	sent := commands()
	assert.Len(t, sent, 2*nInstances*nEvents)
	for _, cid := range slices.Sorted(maps.Keys(sent)) {
		assert.Equal(t, 1, sent[cid], "command %s sent once", cid)
	}
	cancel()
	require.NoError(t, <-done)
}

// publish appends a minimal event as the writer would.
func publish(t *testing.T, nc *nats.Conn, subject string, version int, corr string) {
	m := nats.NewMsg(subject)
	m.Data = []byte(`{}`)
	m.Header.Set(streams.HeaderType, "Happened")
	m.Header.Set(streams.HeaderVersion, strconvI(version))
	m.Header.Set(streams.HeaderMsgID, strings.ReplaceAll(subject, ".", "-")+"-"+strconvI(version))
	if corr != "" {
		m.Header.Set(streams.HeaderCorrelationID, corr)
	}
	js, err := nc.JetStream()
	require.NoError(t, err)
	_, err = js.PublishMsg(m)
	require.NoError(t, err)
}

func strconvI(i int) string { return strconv.Itoa(i) }

// With one worker, events reach React in stream order, once each when
// nothing fails; a React that fails gets the same event again (never the
// next one first); a timer
// scheduled at each instance's first event fires once, into TIMERS, and the
// event stream keeps its settings (no message schedules on EVENTS).
func TestEventsInOrderRetriedAndTimersFireOnce(t *testing.T) {
	n := testkit.StartNATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := streams.Open(ctx, n.Connect())
	require.NoError(t, err)
	var mu sync.Mutex
	var seen []string
	fired := map[string]int{}
	causes := map[string]string{}
	failOnce := true
	p := process.Process{Name: "probe", Subjects: []string{"events.thing.>"},
		React: func(ctx context.Context, c *process.Commands, ev streams.Recorded) error {
			mu.Lock()
			defer mu.Unlock()
			if ev.Ref.ID() == "b" && failOnce {
				failOnce = false
				return assert.AnError
			}
			seen = append(seen, ev.Ref.ID()+"/"+strconvI(int(ev.Version))+"/"+c.CorrelationID())
			if ev.Version == 1 {
				return c.Schedule(ctx, time.Now().Add(time.Second), []byte(ev.Ref.ID()))
			}
			return nil
		},
		Fired: func(ctx context.Context, c *process.Commands, tm process.Timer) error {
			mu.Lock()
			defer mu.Unlock()
			fired[tm.Ref.ID()+"="+string(tm.Data)]++
			causes[tm.Ref.ID()] = c.CorrelationID()
			return nil
		}}
	// One worker: every event in stream order, whatever its instance.
	m, err := process.New(n.Connect(), store, p, process.Options{Retry: 50 * time.Millisecond, Workers: 1})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	nc := n.Connect()
	publish(t, nc, "events.thing.a", 1, "")
	publish(t, nc, "events.thing.b", 1, "flow-7")
	publish(t, nc, "events.thing.a", 2, "")
	publish(t, nc, "events.other.z", 1, "")
	testkit.Eventually(t, 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(fired) == 2
	}, "both timers fire")
	time.Sleep(1500 * time.Millisecond) // a second firing would come now
	mu.Lock()
	assert.Equal(t, []string{"a/1/a", "b/1/flow-7", "a/2/a"}, seen, "in stream order, the failed one again before the next")
	assert.Equal(t, map[string]int{"a=a": 1, "b=b": 1}, fired, "each timer fires once, with its data")
	assert.Equal(t, map[string]string{"a": "a", "b": "flow-7"}, causes, "a timer keeps the correlation id")
	mu.Unlock()
	cancel()
	require.NoError(t, <-done)

	js := store.JetStream()
	events, err := js.Stream(context.Background(), streams.DefaultStream)
	require.NoError(t, err)
	assert.False(t, events.CachedInfo().Config.AllowMsgSchedules, "never on EVENTS")
	timers, err := js.Stream(context.Background(), process.DefaultTimerStream)
	require.NoError(t, err)
	assert.True(t, timers.CachedInfo().Config.AllowMsgSchedules)
	info, err := timers.Info(context.Background(), jetstream.WithSubjectFilter(process.TimerPrefix+".>"))
	require.NoError(t, err)
	assert.Empty(t, info.State.Subjects, "TIMERS keeps no fired timer once it is handled (nor the fired schedules)")
}

// probeWriter answers the commands on cmd.probe.> as a writer would, and
// counts each command_id it received.
func probeWriter(t *testing.T, nc *nats.Conn) func() map[string]int {
	var mu sync.Mutex
	ids := map[string]int{}
	sub, err := nc.Subscribe("cmd.probe.>", func(m *nats.Msg) {
		var body struct {
			AggregateID string `json:"aggregate_id"`
			CommandID   string `json:"command_id"`
		}
		if err := json.Unmarshal(m.Data, &body); err != nil {
			t.Errorf("command %s: %v", m.Data, err)
			return
		}
		mu.Lock()
		ids[body.CommandID]++
		mu.Unlock()
		_ = m.Respond([]byte(`{"aggregate_id":"` + body.AggregateID + `","version":1,"sequence":1,"events":[]}`))
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(ids)
	}
}

// instances tracks the React calls of a test: what each instance saw, in
// order, and whether two calls of one instance ever ran at once.
type instances struct {
	mu       sync.Mutex
	seen     map[string][]int
	busy     map[string]bool
	overlaps []string
	running  int
	most     int
}

func newInstances() *instances {
	return &instances{seen: map[string][]int{}, busy: map[string]bool{}}
}

// enter marks a call of instance id as running and returns how many run.
func (in *instances) enter(id string, version int) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.busy[id] {
		in.overlaps = append(in.overlaps, id+"/"+strconvI(version))
	}
	in.busy[id] = true
	in.running++
	in.most = max(in.most, in.running)
	return in.running
}

func (in *instances) leave(id string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.busy[id] = false
	in.running--
}

func (in *instances) handled(id string, version int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.seen[id] = append(in.seen[id], version)
}

func (in *instances) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, vs := range in.seen {
		n += len(vs)
	}
	return n
}

// settled reports whether the manager's consumer acknowledged every event.
func settled(t *testing.T, js jetstream.JetStream, consumer string) bool {
	return settledOn(t, js, streams.DefaultStream, consumer)
}

// settledOn reports whether the manager's consumer on stream acknowledged
// every event.
func settledOn(t *testing.T, js jetstream.JetStream, stream, consumer string) bool {
	c, err := js.Consumer(context.Background(), stream, consumer)
	require.NoError(t, err)
	info, err := c.Info(context.Background())
	require.NoError(t, err)
	return info.NumPending == 0 && info.NumAckPending == 0
}

// Events of different instances are handled at once (four Reacts wait for
// each other before any goes on), while the events of each instance reach
// React one at a time and in stream order, even when one fails and is
// retried; each command is sent once, and every event is acknowledged.
func TestInstancesRunConcurrentlyEachInOrderAndOnce(t *testing.T) {
	const nInstances, nEvents, together = 30, 8, 4
	n := testkit.StartNATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := streams.Open(ctx, n.Connect())
	require.NoError(t, err)
	commands := probeWriter(t, n.Connect())
	in := newInstances()
	met := make(chan struct{})
	var once sync.Once
	var failMu sync.Mutex
	failed := map[string]bool{}
	p := process.Process{Name: "probe", Subjects: []string{"events.thing.>"},
		React: func(ctx context.Context, c *process.Commands, ev streams.Recorded) error {
			id, v := ev.Ref.ID(), int(ev.Version)
			if in.enter(id, v) >= together {
				once.Do(func() { close(met) })
			}
			defer in.leave(id)
			if v == 1 {
				select { // the first events wait until four run at once
				case <-met:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			failMu.Lock()
			fail := v == 3 && strings.HasSuffix(id, "0") && !failed[id]
			if fail {
				failed[id] = true
			}
			failMu.Unlock()
			if fail {
				return assert.AnError // the event comes again, before the instance's next
			}
			if _, err := c.Send(ctx, "probe", "note", id, "step-"+strconvI(v), nil); err != nil {
				return err
			}
			in.handled(id, v)
			return nil
		}}
	m, err := process.New(n.Connect(), store, p, process.Options{Retry: 50 * time.Millisecond})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	nc := n.Connect()
	id := func(i int) string { return fmt.Sprintf("i%02d", i) }
	for v := 1; v <= nEvents; v++ {
		for i := range nInstances {
			publish(t, nc, "events.thing."+id(i), v, "")
		}
	}
	testkit.Eventually(t, 60*time.Second, func() bool { return in.count() == nInstances*nEvents },
		"every event handled")
	testkit.Eventually(t, 20*time.Second, func() bool {
		return settled(t, store.JetStream(), process.ConsumerName("", "probe", false))
	}, "every event acknowledged")

	in.mu.Lock()
	want := []int{1, 2, 3, 4, 5, 6, 7, 8}
	for i := range nInstances {
		assert.Equal(t, want, in.seen[id(i)], "instance %s in stream order", id(i))
	}
	assert.Empty(t, in.overlaps, "no two events of one instance at once")
	assert.GreaterOrEqual(t, in.most, together, "instances at once")
	in.mu.Unlock()
	sent := commands()
	assert.Len(t, sent, nInstances*nEvents)
	for i := range nInstances {
		for v := 1; v <= nEvents; v++ {
			cid := process.CommandID("probe", "thing", id(i), "step-"+strconvI(v))
			assert.Equal(t, 1, sent[cid], "command %s sent once", cid)
		}
	}
	failMu.Lock()
	assert.Equal(t, map[string]bool{"i00": true, "i10": true, "i20": true}, failed, "these failed once")
	failMu.Unlock()
	cancel()
	require.NoError(t, <-done)
}

// An instance whose React keeps failing holds back its own later events,
// never the other workers: another instance finishes all its events while
// the failing one is retried, and the failing one then goes on in order.
func TestAFailingInstanceHoldsBackOnlyItsOwnEvents(t *testing.T) {
	n := testkit.StartNATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := streams.Open(ctx, n.Connect())
	require.NoError(t, err)
	in := newInstances()
	var mu sync.Mutex
	failures := 0
	othersDone := false // some other instance had all of its events handled
	p := process.Process{Name: "probe", Subjects: []string{"events.thing.>"},
		React: func(ctx context.Context, c *process.Commands, ev streams.Recorded) error {
			id, v := ev.Ref.ID(), int(ev.Version)
			in.enter(id, v)
			defer in.leave(id)
			mu.Lock()
			defer mu.Unlock()
			if id == "stuck" && v == 2 && !othersDone {
				failures++
				return assert.AnError
			}
			in.handled(id, v)
			if id != "stuck" && v == 3 {
				othersDone = true
			}
			return nil
		}}
	m, err := process.New(n.Connect(), store, p, process.Options{Retry: 20 * time.Millisecond, Workers: 8})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	nc := n.Connect()
	for v := 1; v <= 4; v++ {
		publish(t, nc, "events.thing.stuck", v, "")
	}
	for v := 1; v <= 3; v++ {
		for i := range 16 {
			publish(t, nc, fmt.Sprintf("events.thing.o%02d", i), v, "")
		}
	}
	testkit.Eventually(t, 60*time.Second, func() bool { return in.count() == 4+16*3 }, "every event handled")
	in.mu.Lock()
	assert.Equal(t, []int{1, 2, 3, 4}, in.seen["stuck"], "the failing event again, then the later ones in order")
	assert.Empty(t, in.overlaps)
	in.mu.Unlock()
	mu.Lock()
	assert.Positive(t, failures, "the event failed until another instance finished")
	mu.Unlock()
	cancel()
	require.NoError(t, <-done)
}

// Events held and not handled when a manager stops are handed back at once
// (not after AckWait, ten minutes here): the next manager handles each of
// them, once. (Not necessarily in stream order: the server may redeliver in
// another.)
func TestAStoppedManagerHandsBackWhatItHeld(t *testing.T) {
	n := testkit.StartNATS(t)
	store, err := streams.Open(context.Background(), n.Connect())
	require.NoError(t, err)
	opts := process.Options{Workers: 1, AckWait: 10 * time.Minute, PinnedTTL: time.Second}
	run := func(react func(ctx context.Context, ev streams.Recorded) error) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		p := process.Process{Name: "probe", Subjects: []string{"events.thing.>"},
			React: func(ctx context.Context, _ *process.Commands, ev streams.Recorded) error { return react(ctx, ev) }}
		m, err := process.New(n.Connect(), store, p, opts)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		return func() { cancel(); require.NoError(t, <-done) }
	}
	var mu sync.Mutex
	var first, second []string
	blocked := make(chan struct{})
	stop := run(func(ctx context.Context, ev streams.Recorded) error {
		name := ev.Ref.ID() + "/" + strconvI(int(ev.Version))
		if name == "b/1" {
			close(blocked)
			<-ctx.Done() // a step that does not end before the manager stops
			return ctx.Err()
		}
		mu.Lock()
		first = append(first, name)
		mu.Unlock()
		return nil
	})
	nc := n.Connect()
	publish(t, nc, "events.thing.a", 1, "")
	publish(t, nc, "events.thing.b", 1, "")
	publish(t, nc, "events.thing.b", 2, "")
	publish(t, nc, "events.thing.c", 1, "")
	publish(t, nc, "events.thing.a", 2, "")
	<-blocked
	js := store.JetStream()
	testkit.Eventually(t, 20*time.Second, func() bool {
		c, err := js.Consumer(context.Background(), streams.DefaultStream, process.ConsumerName("", "probe", false))
		require.NoError(t, err)
		info, err := c.Info(context.Background())
		require.NoError(t, err)
		return info.NumPending == 0 && info.NumAckPending == 4
	}, "the manager holds the four events after a/1")
	stop()

	defer run(func(_ context.Context, ev streams.Recorded) error {
		mu.Lock()
		defer mu.Unlock()
		second = append(second, ev.Ref.ID()+"/"+strconvI(int(ev.Version)))
		return nil
	})()
	testkit.Eventually(t, 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(second) == 4
	}, "the next manager gets the held events long before AckWait")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"a/1"}, first)
	assert.ElementsMatch(t, []string{"b/1", "b/2", "c/1", "a/2"}, second)
}

// Events waiting for their worker behind a step that outlasts AckWait stay
// in progress, the step's own too: the server hands none of them again, and
// each is handled once.
func TestEventsWaitingBehindALongStepAreNotHandedAgain(t *testing.T) {
	n := testkit.StartNATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := streams.Open(ctx, n.Connect())
	require.NoError(t, err)
	const ackWait = 2 * time.Second
	in := newInstances()
	release := make(chan struct{})
	p := process.Process{Name: "probe", Subjects: []string{"events.thing.>"},
		React: func(ctx context.Context, _ *process.Commands, ev streams.Recorded) error {
			id, v := ev.Ref.ID(), int(ev.Version)
			in.enter(id, v)
			defer in.leave(id)
			if id == "long" {
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			in.handled(id, v)
			return nil
		}}
	m, err := process.New(n.Connect(), store, p, process.Options{Workers: 1, AckWait: ackWait})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	nc := n.Connect()
	publish(t, nc, "events.thing.long", 1, "")
	for i := range 5 {
		publish(t, nc, fmt.Sprintf("events.thing.w%d", i), 1, "")
	}
	var c jetstream.Consumer
	testkit.Eventually(t, 20*time.Second, func() bool {
		if c == nil { // Run creates it
			c, _ = store.JetStream().Consumer(ctx, streams.DefaultStream, process.ConsumerName("", "probe", false))
			return false
		}
		info, err := c.Info(ctx)
		require.NoError(t, err)
		return info.NumPending == 0 && info.NumAckPending == 6
	}, "the manager holds the six events")
	time.Sleep(3 * ackWait) // not a synchronisation: time for AckWait to pass thrice
	info, err := c.Info(ctx)
	require.NoError(t, err)
	assert.Zero(t, info.NumRedelivered, "nothing handed again")
	assert.Equal(t, 6, info.NumAckPending)
	close(release)
	testkit.Eventually(t, 60*time.Second, func() bool { return in.count() == 6 }, "every event handled")
	testkit.Eventually(t, 20*time.Second, func() bool {
		return settled(t, store.JetStream(), process.ConsumerName("", "probe", false))
	}, "every event acknowledged")
	in.mu.Lock()
	for id, vs := range in.seen {
		assert.Equal(t, []int{1}, vs, "%s handled once", id)
	}
	in.mu.Unlock()
	cancel()
	require.NoError(t, <-done)
}
