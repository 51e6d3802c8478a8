package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// ErrNotFound means the read model has no such entry.
var ErrNotFound = errors.New("not found")

// NotFound returns an error wrapping ErrNotFound that names what was looked
// for, e.g. NotFound("account", id).
func NotFound(what, id string) error { return fmt.Errorf("%w: %s %q", ErrNotFound, what, id) }

// Reached returns how far projection name is known to reflect the stream.
func Reached(ctx context.Context, rdb redis.Cmdable, name string) (uint64, error) {
	g, err := rdb.Get(ctx, KeysOf(name).Generation()).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	v, err := rdb.Get(ctx, KeysOf(name).Reached(g)).Uint64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return v, err
}

// Status returns the status hash of projection name (state, sequence,
// subject, type, error).
func Status(ctx context.Context, rdb redis.Cmdable, name string) (map[string]string, error) {
	return rdb.HGetAll(ctx, KeysOf(name).Status()).Result()
}
