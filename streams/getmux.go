package streams

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// getMux carries the answers of the store's batched direct gets on one
// wildcard subscription of the connection's inbox, routed to each request
// by the last token of its reply subject. A subscription per request (as
// the batch client makes) costs the server a subscribe and an unsubscribe
// per read, which measured several times the cost of the read itself for
// short aggregates.
type getMux struct {
	nc     *nats.Conn
	once   sync.Once
	err    error
	prefix string
	mu     sync.Mutex
	calls  map[string]chan *nats.Msg
}

func newGetMux(nc *nats.Conn) *getMux {
	return &getMux{nc: nc, calls: map[string]chan *nats.Msg{}}
}

func (m *getMux) start() error {
	m.once.Do(func() {
		m.prefix = m.nc.NewInbox() + "."
		_, m.err = m.nc.Subscribe(m.prefix+"*", m.route)
	})
	return m.err
}

func (m *getMux) route(msg *nats.Msg) {
	m.mu.Lock()
	ch := m.calls[msg.Subject[len(m.prefix):]]
	m.mu.Unlock()
	if ch == nil {
		return // a call that gave up
	}
	select {
	case ch <- msg:
	default:
		// More answers than the request allows: the call sees it short
		// and fails.
	}
}

// directBatchRequest is a batched direct get of the events of one subject.
type directBatchRequest struct {
	Seq     uint64 `json:"seq"`
	NextFor string `json:"next_by_subj"`
	Batch   int    `json:"batch"`
}

// getCall is one batched direct get under way.
type getCall struct {
	m     *getMux
	token string
	ch    chan *nats.Msg
}

// send asks the stream for up to batch events of subject from sequence
// start.
func (m *getMux) send(stream, subject string, start Sequence, batch int) (*getCall, error) {
	if err := m.start(); err != nil {
		return nil, err
	}
	c := &getCall{m: m, token: nuid.Next(), ch: make(chan *nats.Msg, batch+2)}
	req, _ := json.Marshal(directBatchRequest{Seq: uint64(start), NextFor: subject, Batch: batch})
	m.mu.Lock()
	m.calls[c.token] = c.ch
	m.mu.Unlock()
	if err := m.nc.PublishRequest(apiDirectGet+stream, m.prefix+c.token, req); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *getCall) close() {
	c.m.mu.Lock()
	delete(c.m.calls, c.token)
	c.m.mu.Unlock()
}

// apiDirectGet is the subject of a stream's direct gets.
const apiDirectGet = "$JS.API.DIRECT.GET."

// collect reads the call's answer: its events in order, each with the
// headers of its message, and what the server counts after them (see
// readBatch).
func (c *getCall) collect(ctx context.Context, ref Ref, subject string, start Sequence, batch int) ([]Stored, uint64, error) {
	defer c.close()
	out := make([]Stored, 0, min(batch, 64))
	pending := ""
	for {
		var msg *nats.Msg
		select {
		case msg = <-c.ch:
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("read %s from sequence %d: %w: no answer from the server", ref, start, errIncomplete(ctx))
		}
		if len(msg.Data) == 0 && msg.Header.Get("Status") != "" {
			switch status := msg.Header.Get("Status"); {
			case status == "204" && msg.Header.Get("Description") == "EOB" && len(out) > 0:
				left, err := strconv.ParseUint(pending, 10, 64)
				if err != nil {
					return nil, 0, fmt.Errorf("read %s: %w: the server's answer has Nats-Num-Pending %q", ref, ErrUnavailable, pending)
				}
				// The server counts what is left for the subject as it
				// serves the batch: zero means this batch reached the end.
				// Anything else (a full batch, or one cut by the server's
				// byte limit) is followed by another request from the next
				// sequence, which either answers or fails.
				return out, left, nil
			case status == "404" && len(out) == 0:
				return out, 0, nil
			default:
				return nil, 0, fmt.Errorf("read %s from sequence %d: %w: the server answered %s %s after %d events",
					ref, start, ErrUnavailable, status, msg.Header.Get("Description"), len(out))
			}
		}
		seq, err := strconv.ParseUint(msg.Header.Get("Nats-Sequence"), 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("read %s: %w: an answer without a valid Nats-Sequence", ref, ErrUnavailable)
		}
		pending = msg.Header.Get("Nats-Num-Pending")
		if pending == "" {
			return nil, 0, fmt.Errorf("read %s: %w: the server does not batch direct gets (no Nats-Num-Pending)", ref, ErrUnavailable)
		}
		rec, err := decodeOf(ref, subject, msg.Header.Get("Nats-Subject"), Sequence(seq), msg.Header, msg.Data)
		if err != nil {
			return nil, 0, fmt.Errorf("read %s: %w", ref, err)
		}
		out = append(out, Stored{Recorded: rec, Header: msg.Header})
		if len(out) > batch {
			return nil, 0, fmt.Errorf("read %s: %w: the server answered more than %d events", ref, ErrUnavailable, batch)
		}
	}
}
