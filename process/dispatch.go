package process

import (
	"cmp"
	"context"
	"hash/fnv"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/streams"
)

// source is one consumer of the manager (its events of one stream, or its
// timers) and the messages it holds: delivered and not yet acknowledged.
type source struct {
	kind   string // "event" or "timer", for logs
	stream string // the stream it reads, for logs
	c      jetstream.Consumer
	handle func(context.Context, jetstream.Msg) error
	// key names the process instance of a message: its messages are handled
	// one at a time, in the order they came.
	key func(jetstream.Msg) string
	// done runs once a message's acknowledgement is confirmed (optional).
	done func(context.Context, jetstream.Msg)

	mu   sync.Mutex
	held map[uint64]*held // by stream sequence
}

// held is a message held by a source until its acknowledgement is confirmed.
type held struct {
	src *source
	msg jetstream.Msg
	seq uint64
}

// hold records msg as held and returns it, or nil when its stream sequence
// is held already: the server handed it again (an in-progress signal that
// did not arrive in time), and the copy held is the one handled and
// acknowledged (an acknowledgement names the stream sequence, not the
// delivery), so an event is never handled twice at once.
func (s *source) hold(msg jetstream.Msg, seq uint64) *held {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.held[seq]; ok {
		return nil
	}
	h := &held{src: s, msg: msg, seq: seq}
	s.held[seq] = h
	return h
}

// release forgets a message whose acknowledgement was confirmed.
func (s *source) release(seq uint64) {
	s.mu.Lock()
	delete(s.held, seq)
	s.mu.Unlock()
}

// inOrder returns the messages held, in stream order.
func (s *source) inOrder() []*held {
	s.mu.Lock()
	out := make([]*held, 0, len(s.held))
	for _, h := range s.held {
		out = append(out, h)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b *held) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// handBack gives the messages still held back to the server (Nak, no delay)
// once no worker runs, so that the server hands them again to the next
// active instance at once instead of after AckWait. They are handed back in
// stream order, but the server may hand them again in another (a
// redelivery that finds no pull of the pinned client goes to the end of its
// queue): React tolerates that (see Process.React).
func (s *source) handBack() {
	for _, h := range s.inOrder() {
		_ = h.msg.Nak()
		s.release(h.seq)
	}
}

// eventKey is the process instance of an event: its aggregate,
// <type>.<id>.
func eventKey(msg jetstream.Msg) string {
	return strings.TrimPrefix(msg.Subject(), streams.SubjectPrefix+".")
}

// timerKey is the process instance of a fired timer, the aggregate it was
// scheduled for.
func (m *Manager) timerKey(msg jetstream.Msg) string {
	return strings.TrimPrefix(msg.Subject(), timerPrefix(m.p.Name, firedToken))
}

// laneOf is the worker of an instance.
func laneOf(key string, lanes int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(lanes))
}

// lane is a worker's queue: unbounded, so that handing a message to a busy
// worker never stops the pulls (the server bounds what is held with
// MaxAckPending).
type lane struct {
	mu    sync.Mutex
	queue []*held
	wake  chan struct{}
}

func newLane() *lane { return &lane{wake: make(chan struct{}, 1)} }

func (l *lane) push(h *held) {
	l.mu.Lock()
	l.queue = append(l.queue, h)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// pop returns the lane's next message, waiting for one; false once ctx is
// done (what is left stays held, for Run to hand back).
func (l *lane) pop(ctx context.Context) (*held, bool) {
	for {
		if ctx.Err() != nil {
			return nil, false
		}
		l.mu.Lock()
		if len(l.queue) > 0 {
			h := l.queue[0]
			l.queue[0] = nil
			l.queue = l.queue[1:]
			l.mu.Unlock()
			return h, true
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, false
		case <-l.wake:
		}
	}
}
