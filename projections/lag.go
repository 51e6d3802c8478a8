package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
)

// Lag returns how many events projection name has still to apply, as the
// projector's jetsource_projection_lag counts them: the events of its own
// subjects its live consumer has not delivered, plus those delivered and not
// acknowledged. The consumer outlives a stopped projector, so the count
// keeps growing while nobody applies them. The end of the stream minus the
// projection's position would count the events of every other aggregate
// type too, and never come back to 0 for a projection followed by events it
// does not subscribe to. Before the projector created the consumer, the
// count is the stream's last sequence minus the position reached: an upper
// bound.
//
// Of a partitioned projection, it is the largest lag of its partitions: each
// partition's consumer delivers every event of the projection's subjects
// (it skips the other partitions' events), so the slowest partition's count
// is what the projection as a whole has still to go through; a sum would
// count each event once per partition.
func Lag(ctx context.Context, js jetstream.JetStream, stream, deployment string, rdb redis.Cmdable,
	lastSequence func(context.Context) (uint64, error), name string) (uint64, error) {
	n, err := Partitions(ctx, rdb, name)
	if err != nil {
		return 0, err
	}
	var lag uint64
	for p := range n {
		consumer := PartitionConsumerName(deployment, KindLive, name, p, n)
		c, err := js.Consumer(ctx, stream, consumer)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return lagFromReached(ctx, rdb, lastSequence, name)
		}
		if err != nil {
			return 0, fmt.Errorf("consumer %s: %w", consumer, err)
		}
		info := c.CachedInfo()
		lag = max(lag, info.NumPending+uint64(info.NumAckPending))
	}
	return lag, nil
}

// lagFromReached is the lag of a projection whose consumer is not there:
// the stream's last sequence minus the position reached.
func lagFromReached(ctx context.Context, rdb redis.Cmdable, lastSequence func(context.Context) (uint64, error), name string) (uint64, error) {
	last, err := lastSequence(ctx)
	if err != nil {
		return 0, fmt.Errorf("event stream: %w", err)
	}
	reached, err := Reached(ctx, rdb, name)
	if err != nil {
		return 0, err
	}
	return last - min(last, reached), nil
}
