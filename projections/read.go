package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"

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

// States of a projection, as Inspect reports them.
const (
	// StateNew: no runner has started the projection yet.
	StateNew = "new"
	// StateRunning: a runner follows the stream.
	StateRunning = "running"
	// StateFailed: the projection stopped on an event it cannot apply.
	StateFailed = "failed"
	// StateRebuilding: a rebuild builds a new generation beside the live one.
	StateRebuilding = "rebuilding"
)

// Report is what an operator sees of one projection (see Inspect).
type Report struct {
	Name string `json:"name"`
	// State is StateNew, StateRunning, StateFailed or StateRebuilding.
	State string `json:"state"`
	// Generation is the live generation, the one queries read.
	Generation int64 `json:"generation"`
	// Checkpoint is the last stream sequence the live generation applied;
	// Reached how far it is known to reflect the stream (past the events
	// its filter skips).
	Checkpoint uint64 `json:"checkpoint"`
	Reached    uint64 `json:"reached"`
	// Failed names the event the projection stopped on (state failed).
	Failed *Failure `json:"failed,omitempty"`
	// Rebuild is the generation a running rebuild builds, nil when none
	// runs.
	Rebuild *Building `json:"rebuild,omitempty"`
}

// Failure is the event a projection stopped on.
type Failure struct {
	Sequence uint64 `json:"sequence"`
	Subject  string `json:"subject"`
	Type     string `json:"type"`
	Error    string `json:"error"`
}

// Building is the generation a rebuild writes.
type Building struct {
	Generation int64  `json:"generation"`
	Checkpoint uint64 `json:"checkpoint"`
	Reached    uint64 `json:"reached"`
}

// Inspect reports projection name's state from Redis: its live generation
// and how far it reached, the event it failed on, and the generation a
// rebuild builds meanwhile, with its progress.
func Inspect(ctx context.Context, rdb redis.Cmdable, name string) (Report, error) {
	keys := KeysOf(name)
	rep := Report{Name: name, State: StateNew}
	g, err := rdb.Get(ctx, keys.Generation()).Int64()
	if errors.Is(err, redis.Nil) {
		return rep, nil
	}
	if err != nil {
		return rep, fmt.Errorf("projection %s: generation: %w", name, err)
	}
	rep.Generation = g
	next := nextGeneration(g)
	var cp, reached, nextCp, nextReached *redis.StringCmd
	var locked *redis.IntCmd
	var status *redis.MapStringStringCmd
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		cp, reached = p.Get(ctx, keys.Checkpoint(g)), p.Get(ctx, keys.Reached(g))
		nextCp, nextReached = p.Get(ctx, keys.Checkpoint(next)), p.Get(ctx, keys.Reached(next))
		locked = p.Exists(ctx, keys.RebuildLock())
		status = p.HGetAll(ctx, keys.Status())
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return rep, fmt.Errorf("projection %s: %w", name, err)
	}
	rep.Checkpoint, rep.Reached = uintOf(cp), uintOf(reached)
	st := status.Val()
	switch st["state"] {
	case StateFailed:
		rep.State = StateFailed
		seq, _ := strconv.ParseUint(st["sequence"], 10, 64)
		rep.Failed = &Failure{Sequence: seq, Subject: st["subject"], Type: st["type"], Error: st["error"]}
	case StateRunning:
		rep.State = StateRunning
	}
	if locked.Val() > 0 {
		rep.State = StateRebuilding
		rep.Rebuild = &Building{Generation: next, Checkpoint: uintOf(nextCp), Reached: uintOf(nextReached)}
	}
	return rep, nil
}

// uintOf is the unsigned value of a GET, 0 when the key is absent.
func uintOf(c *redis.StringCmd) uint64 {
	v, _ := c.Uint64()
	return v
}
