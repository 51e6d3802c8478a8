package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	// streamName is the event stream the consumer reads.
	streamName string
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
	stream, err := r.opts.Layout.StreamOfSubjects(subjects)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if err := r.deleteOwnConsumer(cctx, stream, name); err != nil {
		return nil, fmt.Errorf("reset consumer %s: %w", name, err)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:           name,
		Description:       consumerDescription + name,
		Metadata:          map[string]string{metaDeployment: r.opts.Deployment, metaOwner: ownerProjector},
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
	cons, err := r.js.CreateConsumer(cctx, stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", name, err)
	}
	return &feed{cons: cons, stream: cp, streamName: stream}, nil
}

// Consumer ownership: every consumer a runner creates says whose it is, so
// that a runner deletes (to reposition) only consumers of its own
// deployment's projectors.
const (
	consumerDescription = "jetsource projection "
	metaDeployment      = "jetsource_deployment"
	metaOwner           = "jetsource_owner"
	ownerProjector      = "projector"
)

// ErrForeignConsumer means a consumer the runner would reposition by
// deleting it was created by someone else: another deployment's projector
// (give each deployment its own Deployment name), or a client that is not a
// projector at all.
var ErrForeignConsumer = errors.New("consumer belongs to someone else")

// consumerName is the name of the runner's consumer of one kind for
// projection name.
func (r *Runner) consumerName(kind, name string) string {
	return ConsumerName(r.opts.Deployment, kind, name)
}

// Consumer kinds: a live projection's consumer and a rebuild's.
const (
	KindLive    = consumerKind
	KindRebuild = rebuildConsumerKind
)

// ConsumerName is the name of a projector's consumer of one kind (KindLive,
// KindRebuild) for a projection of a deployment:
// jetsource_[<deployment>_]<kind>_<projection>. NATS permissions grant the
// projector exactly these.
func ConsumerName(deployment, kind, projection string) string {
	if deployment == "" {
		return "jetsource_" + kind + "_" + projection
	}
	return "jetsource_" + deployment + "_" + kind + "_" + projection
}

// deleteOwnConsumer deletes consumer name if it is there and was created by
// a projector of this deployment (or, with no metadata, by a jetsource
// projector from before consumers carried it, of the unnamed deployment);
// another's is refused with ErrForeignConsumer and left alone.
func (r *Runner) deleteOwnConsumer(ctx context.Context, stream, name string) error {
	c, err := r.js.Consumer(ctx, stream, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	cfg := c.CachedInfo().Config
	owner, hasOwner := cfg.Metadata[metaOwner]
	mine := hasOwner && owner == ownerProjector && cfg.Metadata[metaDeployment] == r.opts.Deployment
	legacy := !hasOwner && r.opts.Deployment == "" && strings.HasPrefix(cfg.Description, consumerDescription)
	if !mine && !legacy {
		return fmt.Errorf("%w: %s (owner %q, deployment %q; this projector's deployment is %q)",
			ErrForeignConsumer, name, owner, cfg.Metadata[metaDeployment], r.opts.Deployment)
	}
	if err := r.js.DeleteConsumer(ctx, stream, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return err
	}
	return nil
}
