package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// apiConsumerCreate is the JetStream API subject that creates an ephemeral
// consumer (the server names it) on a stream.
const apiConsumerCreate = "$JS.API.CONSUMER.CREATE."

// longReadInactive is how long the server keeps a long read's consumer once
// nobody listens to it any more (the read ended, or its process died): the
// read never deletes it, so a reader needs no right to delete consumers.
// The server also counts it from the creation until the read's interest
// reaches the consumer's server, which in a cluster crosses a route: well
// under this on a healthy cluster.
const longReadInactive = 50 * time.Millisecond

// longReadMargin is how long after longReadInactive a read's token is held
// on, so that the server has removed the consumer before the token serves
// another read (the cap counts the consumers the server still keeps). The
// shorter the two, the more long reads a second the cap lets through
// before reads fall back to direct gets (64 tokens held 0.15 s: 426 a
// second; at 0.75 s, 85 a second, and 100-event loads ran on direct gets).
const longReadMargin = 100 * time.Millisecond

// longReadHeartbeat is the consumer's idle heartbeat, which flow control
// requires; a read that waits longer than the store's timeout fails anyway.
const longReadHeartbeat = 5 * time.Second

// consumerRequest is the body of a consumer creation (the server's JSON
// names; see the JetStream API).
type consumerRequest struct {
	Stream string         `json:"stream_name"`
	Config consumerConfig `json:"config"`
}

type consumerConfig struct {
	DeliverSubject    string        `json:"deliver_subject"`
	DeliverPolicy     string        `json:"deliver_policy"`
	OptStartSeq       uint64        `json:"opt_start_seq"`
	AckPolicy         string        `json:"ack_policy"`
	ReplayPolicy      string        `json:"replay_policy"`
	FilterSubject     string        `json:"filter_subject"`
	FlowControl       bool          `json:"flow_control"`
	Heartbeat         time.Duration `json:"idle_heartbeat"`
	InactiveThreshold time.Duration `json:"inactive_threshold"`
	Replicas          int           `json:"num_replicas"`
	MemoryStorage     bool          `json:"mem_storage"`
}

// longRead is a read's own push consumer (no acknowledgements, flow
// controlled, so at most the server's window of events waits in memory):
// startLongRead asks the server for it, run streams its events, discard
// drops it unread.
type longRead struct {
	s       *Store
	ref     Ref
	subject string
	start   Sequence
	sub     *nats.Subscription
	msgs    chan *nats.Msg
	created chan createAnswer
	stop    chan struct{}
	ended   bool
}

// longReadBuffer is how many deliveries wait for a long read in its channel;
// more wait in the subscription's pending list (an asynchronous
// subscription's list grows as messages arrive, where a synchronous one
// allocates its whole channel, 64k entries, for each read).
const longReadBuffer = 256

// createAnswer is the server's answer to a consumer creation.
type createAnswer struct {
	msg *nats.Msg
	err error
}

// startLongRead subscribes to the deliveries of a consumer of subject from
// sequence start and sends its creation, without waiting for the answer. It
// returns nil when no consumer may be asked for: MaxReadConsumers reached,
// or the server refused one before (direct gets serve).
func (s *Store) startLongRead(ctx context.Context, ref Ref, subject string, start Sequence) (*longRead, error) {
	if s.noConsumers.Load() {
		return nil, nil
	}
	var err error
	select {
	case s.readConsumers <- struct{}{}:
	default:
		return nil, nil // MaxReadConsumers reached: direct gets serve
	}
	stream, err := s.route(ref)
	if err != nil {
		<-s.readConsumers
		return nil, fmt.Errorf("read %w", err)
	}
	nc := s.js.Conn()
	inbox := nc.NewInbox()
	l := &longRead{s: s, ref: ref, subject: subject, start: start, msgs: make(chan *nats.Msg, longReadBuffer),
		created: make(chan createAnswer, 1), stop: make(chan struct{})}
	l.sub, err = nc.Subscribe(inbox, func(m *nats.Msg) {
		select {
		case l.msgs <- m:
		case <-l.stop:
		}
	})
	if err != nil {
		<-s.readConsumers
		return nil, fmt.Errorf("read %s: %w", ref, classify(err))
	}
	req, _ := json.Marshal(consumerRequest{Stream: stream, Config: consumerConfig{
		DeliverSubject: inbox, DeliverPolicy: "by_start_sequence", OptStartSeq: uint64(start),
		AckPolicy: "none", ReplayPolicy: "instant", FilterSubject: subject,
		FlowControl: true, Heartbeat: longReadHeartbeat, InactiveThreshold: longReadInactive,
		Replicas: 1, MemoryStorage: true,
	}})
	go func() {
		cctx, cancel := withTimeout(ctx, s.opts.Timeout)
		resp, err := nc.RequestWithContext(cctx, apiConsumerCreate+stream, req)
		cancel()
		l.created <- createAnswer{resp, err}
	}()
	return l, nil
}

// discard drops a long read that is not run (nil: none).
func (l *longRead) discard() {
	if l == nil || l.ended {
		return
	}
	l.ended = true
	_ = l.sub.Unsubscribe()
	close(l.stop)
	// The server keeps the consumer until longReadInactive after the read
	// stops listening: the token is given back then.
	time.AfterFunc(longReadInactive+longReadMargin, func() { <-l.s.readConsumers })
}

// readConsumer streams the events of subject from sequence start to the
// last one with a consumer of its own (see longRead), handing each to each
// until it returns false. done is false when no consumer could be had (see
// startLongRead and run) and nothing was handed on: the caller reads on
// with direct gets.
func (s *Store) readConsumer(ctx context.Context, ref Ref, subject string, start Sequence, each func(Recorded) bool) (done bool, err error) {
	l, err := s.startLongRead(ctx, ref, subject, start)
	if l == nil {
		return err != nil, err
	}
	return l.run(ctx, each)
}

// run waits for the consumer's creation and hands its events to each until
// it returns false. done is false when the server refused the consumer (too
// old, a limit, no permission) and nothing was handed on: the caller reads
// on with direct gets, and the store does not ask again after a refusal
// other than a limit. The read is complete only when an event arrives that
// the server says is the last (its pending count is 0), or when the server
// counts no event from start at the creation; a missing delivery, a dropped
// message or silence for longer than the store's timeout is ErrUnavailable.
func (l *longRead) run(ctx context.Context, each func(Recorded) bool) (done bool, err error) {
	defer l.discard()
	s, ref, nc := l.s, l.ref, l.s.js.Conn()
	answer := <-l.created
	resp, err := answer.msg, answer.err
	if err != nil {
		if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders)) {
			// No answer to a creation is what a missing permission looks
			// like; direct gets serve, and later reads do not wait again.
			s.refuseConsumers(ref, err)
			return false, nil
		}
		return true, fmt.Errorf("read %s: %w", ref, classify(err))
	}
	var created struct {
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		NumPending *uint64 `json:"num_pending"`
	}
	if err := json.Unmarshal(resp.Data, &created); err != nil || created.Error != nil {
		if created.Error != nil {
			if created.Error.ErrCode == errCodeMaxConsumers {
				// The stream is full of consumers for now (other processes'
				// reads, a low server limit): this read uses direct gets,
				// later ones try again.
				return false, nil
			}
			err = fmt.Errorf("%s (%d)", created.Error.Description, created.Error.ErrCode)
		}
		s.refuseConsumers(ref, err)
		return false, nil
	}
	if created.NumPending != nil && *created.NumPending == 0 {
		return true, nil // nothing from start: nothing will be delivered
	}

	var delivered uint64
	silence := time.NewTimer(s.opts.Timeout)
	defer silence.Stop()
	for {
		var msg *nats.Msg
		select {
		case msg = <-l.msgs:
			silence.Reset(s.opts.Timeout)
		case <-silence.C:
			return true, fmt.Errorf("read %s from sequence %d: %w: no event for %v", ref, l.start, ErrUnavailable, s.opts.Timeout)
		case <-ctx.Done():
			return true, fmt.Errorf("read %s from sequence %d: %w: %w", ref, l.start, ErrUnavailable, ctx.Err())
		}
		if len(msg.Data) == 0 && msg.Header.Get("Status") != "" {
			// Heartbeat or flow control: a request with a reply is answered
			// so that the server sends on.
			if msg.Reply != "" {
				_ = nc.Publish(msg.Reply, nil)
			}
			continue
		}
		seq, cseq, pending, ok := parseDelivery(msg.Reply)
		if !ok {
			return true, fmt.Errorf("read %s: %w: unexpected delivery %q", ref, ErrUnavailable, msg.Reply)
		}
		delivered++
		if cseq != delivered {
			return true, fmt.Errorf("read %s from sequence %d: %w: delivery %d arrived after %d (messages lost)",
				ref, l.start, ErrUnavailable, cseq, delivered-1)
		}
		rec, err := decodeOf(ref, l.subject, msg.Subject, Sequence(seq), msg.Header, msg.Data)
		if err != nil {
			return true, fmt.Errorf("read %s: %w", ref, err)
		}
		if !each(rec) || pending == 0 {
			return true, nil
		}
	}
}

// refuseConsumers makes reads of the store keep to direct gets from now on.
func (s *Store) refuseConsumers(ref Ref, err error) {
	if s.noConsumers.CompareAndSwap(false, true) {
		s.log.Warn("long reads fall back to direct gets: the server did not create a read consumer", "aggregate", ref.String(), "error", err)
	}
}

// parseDelivery reads the stream sequence, the consumer's delivery sequence
// and the count of what is left from a delivery's reply subject:
// $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>, or
// with <domain>.<account hash> after $JS.ACK (the v2 form, which may grow
// tokens at the end).
func parseDelivery(reply string) (seq, cseq, pending uint64, ok bool) {
	rest, found := strings.CutPrefix(reply, "$JS.ACK.")
	if !found {
		return 0, 0, 0, false
	}
	var tokens [12]string
	n := 0
	for n < len(tokens) {
		tok, after, more := strings.Cut(rest, ".")
		tokens[n] = tok
		n++
		if !more {
			break
		}
		rest = after
	}
	first := 0 // index of <stream>
	switch {
	case n == 7:
	case n >= 9: // tokens after <pending> are allowed
		first = 2
	default:
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	seq, err1 = strconv.ParseUint(tokens[first+3], 10, 64)
	cseq, err2 = strconv.ParseUint(tokens[first+4], 10, 64)
	pending, err3 = strconv.ParseUint(tokens[first+6], 10, 64)
	return seq, cseq, pending, err1 == nil && err2 == nil && err3 == nil
}
