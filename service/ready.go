package service

import (
	"context"
	"fmt"
	"strings"

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

// LagCheck is not ready while a projection behind the reader's models is
// more than bound events behind the end of the stream: its answers would be
// old, and read-your-writes waits would run long.
func LagCheck(rdb redis.Cmdable, lastSequence func(context.Context) (uint64, error), names []string, bound uint64) ops.Check {
	return func(ctx context.Context) error {
		last, err := lastSequence(ctx)
		if err != nil {
			return fmt.Errorf("event stream: %w", err)
		}
		var behind []string
		for _, name := range names {
			reached, err := projections.Reached(ctx, rdb, name)
			if err != nil {
				return fmt.Errorf("projection %s: %w", name, err)
			}
			if last > reached && last-reached > bound {
				behind = append(behind, fmt.Sprintf("%s is %d events behind", name, last-reached))
			}
		}
		if len(behind) > 0 {
			return fmt.Errorf("%s (reader.ready_lag is %d)", strings.Join(behind, "; "), bound)
		}
		return nil
	}
}
