package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Update is one answer a subscriber receives.
type Update struct {
	// Sequence is the projection checkpoint the answer reflects; it grows
	// strictly from one update to the next.
	Sequence uint64
	// Data is the answer; Error is set instead for a not found.
	Data  json.RawMessage
	Error *ErrorBody
	// Reset marks the current answer given to a resume whose sequence the
	// history no longer holds: the updates between are not known.
	Reset bool
}

// ErrSlowSubscriber ends a subscription whose reader left Buffer updates
// unread: it is cut off rather than slowing anyone else.
var ErrSlowSubscriber = errors.New("live: subscriber too slow: its buffer of unread answers filled up, so it was cut off; subscribe again with the last sequence to resume")

// SubscribeError is a subscribe request refused: its status and the
// contract's error.
type SubscribeError struct {
	Status int
	ErrorBody
}

func (e *SubscribeError) Error() string {
	return fmt.Sprintf("live: subscribe refused (%d %s): %s", e.Status, e.Code, e.Message)
}

// SubscribeOptions configure a subscription.
type SubscribeOptions struct {
	// After resumes after the update of this sequence (0: from the current
	// answer).
	After uint64
	// Buffer is how many updates may wait unread (default DefaultBuffer).
	Buffer int
	// Timeout bounds the subscribe request (default 5 s).
	Timeout time.Duration
}

// SubscribeOption changes one setting of a subscription.
type SubscribeOption func(*SubscribeOptions)

// After resumes after the update of sequence seq.
func After(seq uint64) SubscribeOption { return func(o *SubscribeOptions) { o.After = seq } }

// WithBuffer sets how many updates may wait unread.
func WithBuffer(n int) SubscribeOption { return func(o *SubscribeOptions) { o.Buffer = n } }

// Subscription is one subscriber of one instance.
type Subscription struct {
	updates chan Update
	reply   subscribeReply
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	err     error
}

// Updates delivers the answers in order; it is closed when the
// subscription ends (Err says why).
func (s *Subscription) Updates() <-chan Update { return s.updates }

// Instance is the id of the instance subscribed to.
func (s *Subscription) Instance() string { return s.reply.Instance }

// Subject is the subject of the instance's answers.
func (s *Subscription) Subject() string { return s.reply.Subject }

// Err is why the subscription ended: nil while it runs or after Close,
// ErrSlowSubscriber, or the error that broke it.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription and waits until it stopped.
func (s *Subscription) Close() {
	s.cancel()
	<-s.done
}

const (
	defaultSubscribeTimeout = 5 * time.Second
	// consumerInactiveThreshold is how long the server keeps the consumer
	// of a subscriber that stopped pulling (a running one pulls every few
	// seconds at most).
	consumerInactiveThreshold = 30 * time.Second
)

// Subscribe subscribes to the instance of query <model>.<name> with params
// (a JSON object of the query's parameters; nil for none).
func Subscribe(ctx context.Context, nc *nats.Conn, model, name string, params json.RawMessage, options ...SubscribeOption) (*Subscription, error) {
	opts := SubscribeOptions{Buffer: DefaultBuffer, Timeout: defaultSubscribeTimeout}
	for _, o := range options {
		o(&opts)
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if len(params) == 0 {
		params = json.RawMessage("{}")
	}
	reply, err := request(ctx, nc, RequestSubject(model, name), params, opts.Timeout)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	// The server removes a subscriber's consumer soon after it stops
	// pulling (nats.go's default would keep it 5 minutes).
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{reply.Subject}, InactiveThreshold: consumerInactiveThreshold}
	if opts.After == 0 {
		// The current answer, then everything after it.
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, reply.StreamSequence
	} else {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	cons, err := js.OrderedConsumer(ctx, reply.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("live: read the answers of %s: %w", reply.Subject, err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Subscription{updates: make(chan Update, opts.Buffer), reply: reply, cancel: cancel, done: make(chan struct{})}
	go s.run(runCtx, nc, cons, model, name, params, opts)
	return s, nil
}

// request sends a subscribe (or renewal) request.
func request(ctx context.Context, nc *nats.Conn, subject string, params json.RawMessage, timeout time.Duration) (subscribeReply, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg, err := nc.RequestWithContext(rctx, subject, params)
	if errors.Is(err, nats.ErrNoResponders) {
		return subscribeReply{}, &SubscribeError{Status: 404, ErrorBody: ErrorBody{Code: "not_found", Message: "no live query server answers " + subject}}
	}
	if err != nil {
		return subscribeReply{}, fmt.Errorf("live: subscribe %s: %w", subject, err)
	}
	if code := msg.Header.Get("Nats-Service-Error-Code"); code != "" {
		status, _ := strconv.Atoi(code)
		var env struct{ Error ErrorBody }
		_ = json.Unmarshal(msg.Data, &env)
		return subscribeReply{}, &SubscribeError{Status: status, ErrorBody: env.Error}
	}
	var reply subscribeReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return subscribeReply{}, fmt.Errorf("live: malformed subscribe reply: %w", err)
	}
	return reply, nil
}

// run delivers the answers: for a resume, the history is walked to the
// update after After (or a reset when the history no longer holds it); the
// instance is renewed at half its TTL.
func (s *Subscription) run(ctx context.Context, nc *nats.Conn, cons jetstream.Consumer, model, name string, params json.RawMessage, opts SubscribeOptions) {
	defer close(s.done)
	defer close(s.updates)
	it, err := cons.Messages()
	if err != nil {
		s.end(err)
		return
	}
	stopped := make(chan struct{})
	defer func() { <-stopped }()
	go func() {
		defer close(stopped)
		renew := time.NewTicker(max(time.Duration(s.reply.TTLMillis)*time.Millisecond/2, time.Second))
		defer renew.Stop()
		for {
			select {
			case <-ctx.Done():
				it.Stop()
				return
			case <-renew.C:
				if _, err := request(ctx, nc, RequestSubject(model, name), params, opts.Timeout); err != nil && ctx.Err() == nil {
					// The next renewal tries again; the instance lives a TTL.
					continue
				}
			}
		}
	}()
	last, synced, delivered := opts.After, opts.After == 0, false
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				s.end(err)
			}
			s.cancel()
			return
		}
		meta, err := msg.Metadata()
		if err != nil {
			s.end(err)
			s.cancel()
			return
		}
		var m Message
		if err := json.Unmarshal(msg.Data(), &m); err != nil {
			s.end(fmt.Errorf("live: malformed answer at stream sequence %d: %w", meta.Sequence.Stream, err))
			s.cancel()
			return
		}
		u := Update{Sequence: m.Sequence, Data: m.Data, Error: m.Error}
		if !synced {
			switch {
			case m.Sequence == last:
				synced = true // resume right after it
				continue
			case m.Sequence > last && m.Previous == last:
				synced = true
			case meta.Sequence.Stream >= s.reply.StreamSequence:
				// The history no longer holds what followed last (or last
				// is ahead of every answer): the current answer, a reset.
				synced, u.Reset = true, true
			default:
				continue
			}
		} else if delivered && m.Sequence <= last {
			continue
		}
		last, delivered = m.Sequence, true
		select {
		case s.updates <- u:
		default:
			s.end(ErrSlowSubscriber)
			s.cancel()
			return
		}
	}
}

func (s *Subscription) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}
