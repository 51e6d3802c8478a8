package service

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/ops"
	"github.com/jetsource/jetsource/projections"
)

// RebuildCheck is not ready while the runner rebuilds a projection: a
// projector busy replaying the stream is not one to route work to.
func RebuildCheck(r *projections.Runner) ops.Check {
	return func(context.Context) error {
		if names := r.Rebuilding(); len(names) > 0 {
			return fmt.Errorf("rebuilding %s", strings.Join(names, ", "))
		}
		return nil
	}
}

// LagCheck is not ready while a projection behind the reader's models has
// more than bound events still to apply: its answers would be old, and
// read-your-writes waits would run long. lag tells how many a projection has
// (ProjectionLag).
func LagCheck(lag func(ctx context.Context, projection string) (uint64, error), names []string, bound uint64) ops.Check {
	return func(ctx context.Context) error {
		var behind []string
		for _, name := range names {
			n, err := lag(ctx, name)
			if err != nil {
				return fmt.Errorf("projection %s: %w", name, err)
			}
			if n > bound {
				behind = append(behind, fmt.Sprintf("%s is %d events behind", name, n))
			}
		}
		if len(behind) > 0 {
			return fmt.Errorf("%s (reader.ready_lag is %d)", strings.Join(behind, "; "), bound)
		}
		return nil
	}
}

// ProjectionLag returns how many events a projection has still to apply,
// as the projector's jetsource_projection_lag counts them: the events of its
// own subjects its live consumer has not delivered, plus those delivered and
// not acknowledged. The consumer outlives a stopped projector, so the count
// keeps growing while nobody applies them. The end of the stream minus the
// projection's position would count the events of every other aggregate
// type too, and never come back to 0 for a projection followed by events
// it does not subscribe to. Before the projector created the consumer, the
// count is the stream's last sequence minus the position reached: an upper
// bound.
func ProjectionLag(js jetstream.JetStream, stream, deployment string, rdb redis.Cmdable,
	lastSequence func(context.Context) (uint64, error)) func(context.Context, string) (uint64, error) {
	return func(ctx context.Context, name string) (uint64, error) {
		consumer := projections.ConsumerName(deployment, projections.KindLive, name)
		c, err := js.Consumer(ctx, stream, consumer)
		if err == nil {
			info := c.CachedInfo()
			return info.NumPending + uint64(info.NumAckPending), nil
		}
		if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return 0, fmt.Errorf("consumer %s: %w", consumer, err)
		}
		last, err := lastSequence(ctx)
		if err != nil {
			return 0, fmt.Errorf("event stream: %w", err)
		}
		reached, err := projections.Reached(ctx, rdb, name)
		if err != nil {
			return 0, err
		}
		return last - min(last, reached), nil
	}
}
