package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/streams"
)

// errGap means the consumer delivered something the runner was not handed:
// another client pulled on it, a pull outlived its runner, a consumer leader
// changed. The runner never acknowledges past such a hole; it starts over
// from the checkpoint.
var errGap = errors.New("projection consumer skipped a delivery")

// feed is a runner's view of one consumer. Every delivery of the consumer
// has the next consumer sequence, so the runner checks that it was handed
// each one, once, in stream order, before it acknowledges anything.
type feed struct {
	cons jetstream.Consumer
	// delivered is the consumer sequence of the last delivery seen.
	delivered uint64
	// stream is the stream sequence of the last delivery seen (at first,
	// the checkpoint the consumer starts after).
	stream streams.Sequence
}

// check accepts meta as the next delivery or reports the gap.
func (f *feed) check(meta *jetstream.MsgMetadata) error {
	seq := streams.Sequence(meta.Sequence.Stream)
	if meta.NumDelivered != 1 || meta.Sequence.Consumer != f.delivered+1 || seq <= f.stream {
		return fmt.Errorf("%w: delivery %d (stream sequence %d, delivered %d times) came after delivery %d (stream sequence %d)",
			errGap, meta.Sequence.Consumer, seq, meta.NumDelivered, f.delivered, f.stream)
	}
	f.delivered, f.stream = meta.Sequence.Consumer, seq
	return nil
}

// idle checks, on an empty fetch, that the consumer delivered nothing the
// runner did not see, and returns the consumer's state.
func (f *feed) idle(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	info, err := f.cons.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info.Delivered.Consumer != f.delivered {
		return nil, fmt.Errorf("%w: the consumer delivered up to %d, the runner saw up to %d",
			errGap, info.Delivered.Consumer, f.delivered)
	}
	return info, nil
}

// feed (re)creates the consumer name so that it delivers the subjects from
// just after cp. A consumer that was there is deleted first: its position
// and any pull still waiting on it are forgotten. idle, when set, lets the
// server remove a consumer nobody pulls on.
func (r *Runner) feed(ctx context.Context, name string, subjects []string, cp streams.Sequence, idle time.Duration) (*feed, error) {
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if err := r.js.DeleteConsumer(cctx, r.opts.Stream, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("reset consumer %s: %w", name, err)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:           name,
		Description:       "jetsource projection " + name,
		FilterSubjects:    subjects,
		AckPolicy:         jetstream.AckAllPolicy,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		MaxAckPending:     -1,
		InactiveThreshold: idle,
	}
	if cp > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = uint64(cp) + 1
	}
	cons, err := r.js.CreateConsumer(cctx, r.opts.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", name, err)
	}
	return &feed{cons: cons, stream: cp}, nil
}
