package service

import (
	"context"
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

// ProjectionLag is projections.Lag of one deployment's projections, for
// LagCheck.
func ProjectionLag(js jetstream.JetStream, stream, deployment string, rdb redis.Cmdable,
	lastSequence func(context.Context) (uint64, error)) func(context.Context, string) (uint64, error) {
	return func(ctx context.Context, name string) (uint64, error) {
		return projections.Lag(ctx, js, stream, deployment, rdb, lastSequence, name)
	}
}
