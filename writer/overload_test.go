package writer_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/testkit"
	"github.com/jetsource/jetsource/writer"
)

// A burst far beyond the writer's capacity is shed: the commands that do not
// fit its queue are answered 503 at once, those that waited past their
// deadline are answered 503 and never run, and every answer is true.
func TestBurstBeyondCapacityIsShedAndNothingRunsPastItsDeadline(t *testing.T) {
	n := testkit.StartNATS(t)
	const burst, maxWait = 200, 100 * time.Millisecond
	g := newGate()
	g.entered = make(chan struct{}, burst)
	w := startWriterWith(t, n, func(w *writer.Writer) error { return writer.Register(w, g.definition()) },
		writer.WithWorkers(1), writer.WithQueueDepth(2), writer.WithMaxQueueWait(maxWait))
	released := false
	t.Cleanup(func() {
		if !released {
			g.open()
		}
	})

	client := n.Connect()
	replies := make(chan *nats.Msg, burst)
	sub, err := client.ChanSubscribe("burst.replies.*", replies)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	for i := range burst {
		require.NoError(t, client.PublishRequest("cmd.slow.pass", fmt.Sprintf("burst.replies.%d", i),
			fmt.Appendf(nil, `{"aggregate_id":"b%d"}`, i)))
	}
	require.NoError(t, client.Flush())

	// One command is being decided and two wait in the queue: every other
	// one is answered 503 while the worker is still busy.
	<-g.entered
	answers := map[string]*nats.Msg{}
	var full atomic.Int32
	testkit.Eventually(t, 10*time.Second, func() bool {
		for {
			select {
			case m := <-replies:
				answers[m.Subject] = m
				if m.Header.Get("Nats-Service-Error-Code") == "503" {
					full.Add(1)
				}
			default:
				return full.Load() >= burst-3
			}
		}
	}, "the commands beyond the queue answered 503 while the worker is busy")
	for _, m := range answers {
		assert.Contains(t, string(m.Data), "the writer is full; nothing was done")
	}

	// Every request has been handed to the writer (each was answered or
	// queued) by now: the queued ones wait past their deadline, then the
	// worker frees.
	allIn := time.Now()
	testkit.Eventually(t, 10*time.Second, func() bool { return time.Since(allIn) > maxWait }, "the queued commands' deadline passed")
	g.open()
	released = true
	testkit.Eventually(t, 10*time.Second, func() bool {
		for {
			select {
			case m := <-replies:
				answers[m.Subject] = m
			default:
				return len(answers) == burst
			}
		}
	}, "every command answered")

	var succeeded, shed, late int
	for subject, m := range answers {
		var i int
		_, err := fmt.Sscanf(subject, "burst.replies.%d", &i)
		require.NoError(t, err)
		stored := len(events(t, w.store, "slow", fmt.Sprintf("b%d", i)))
		switch {
		case m.Header.Get("Nats-Service-Error-Code") == "":
			succeeded++
			assert.Equal(t, 1, stored, "b%d answered success: its event is stored", i)
		default:
			assert.Equal(t, "503", m.Header.Get("Nats-Service-Error-Code"), string(m.Data))
			assert.Equal(t, 0, stored, "b%d answered 503: nothing stored", i)
			switch {
			case strings.Contains(string(m.Data), "the writer is full"):
				shed++
			case strings.Contains(string(m.Data), "past its deadline"):
				late++
			}
		}
	}
	assert.Equal(t, 1, succeeded, "only the command taken before the burst filled the queue ran")
	// The queue held one or two more (two when the worker took the first
	// command off it before it filled up).
	assert.Equal(t, burst-1-shed, late, "the queued commands were answered 503 past their deadline")
	assert.GreaterOrEqual(t, late, 1)
	assert.Empty(t, g.entered, "no command was decided after its deadline")
}

// A burst far beyond what the writer can take leaves its memory bounded:
// requests beyond its queue are answered at once and not kept, so the heap
// after the burst is about what it was before, whatever the burst's size.
func TestBurstLeavesTheWritersMemoryBounded(t *testing.T) {
	n := testkit.StartNATS(t)
	g := newGate()
	startWriterWith(t, n, func(w *writer.Writer) error { return writer.Register(w, g.definition()) },
		writer.WithWorkers(1), writer.WithQueueDepth(2))
	t.Cleanup(g.open) // before the writer's own cleanup, which drains
	client := n.Connect()
	var answered atomic.Int64
	sub, err := client.Subscribe("mem.replies", func(*nats.Msg) { answered.Add(1) })
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, client.Flush())
	require.NoError(t, client.PublishRequest("cmd.slow.pass", "mem.replies", []byte(`{"aggregate_id":"m0"}`)))
	<-g.entered // the one worker is held: everything else is shed or queued

	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	const burst, size = 4_000, 8 << 10 // 32 MiB of requests
	pad := strings.Repeat("x", size)
	send := func(round int) {
		for i := range burst {
			body := fmt.Appendf(nil, `{"aggregate_id":"m%d","command_id":"%s-%d-%d"}`, i+1, pad[:size-64], round, i)
			require.NoError(t, client.PublishRequest("cmd.slow.pass", "mem.replies", body))
		}
		require.NoError(t, client.Flush())
		testkit.Eventually(t, 60*time.Second, func() bool { return answered.Load() >= int64(round*burst-2) },
			"burst %d is answered while the worker is held (%d of %d)", round, answered.Load(), round*burst)
	}
	// A first burst grows the connections' buffers (the embedded server's
	// and the clients', kept for reuse); what a second one adds is what the
	// writer holds on to. A writer that queued every command would hold the
	// first burst and add the second.
	send(1)
	before := heap()
	send(2)
	after := heap()
	grew := int64(after) - int64(before)
	assert.Less(t, grew, int64(burst*size/4), "the heap grew by %d bytes for a burst of %d bytes", grew, burst*size)
}
