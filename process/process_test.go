package process_test

import (
	"context"
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

// Events reach React in stream order, once each when nothing fails; a React
// that fails gets the same event again (never the next one first); a timer
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
	m, err := process.New(n.Connect(), store, p, process.Options{Retry: 50 * time.Millisecond})
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
