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

// Reached returns how far projection name is known to reflect the stream:
// of a partitioned projection, how far all its partitions are.
func Reached(ctx context.Context, rdb redis.Cmdable, name string) (uint64, error) {
	// The partition count and the generation of a projection of one
	// partition share a hash tag: one MGET, then one GET of reached, as
	// before partitions (the reader polls this).
	keys := KeysOf(name)
	vals, err := rdb.MGet(ctx, keys.PartitionsKey(), keys.Generation()).Result()
	if err != nil {
		return 0, err
	}
	n := 1
	if s, ok := vals[0].(string); ok {
		if n, err = strconv.Atoi(s); err != nil {
			return 0, fmt.Errorf("projection %s: partitions %q: %w", name, s, err)
		}
	}
	if n <= 1 {
		s, ok := vals[1].(string)
		if !ok {
			return 0, nil // nothing projected yet
		}
		g, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("projection %s: generation %q: %w", name, s, err)
		}
		v, err := rdb.Get(ctx, keys.Reached(g)).Uint64()
		if errors.Is(err, redis.Nil) {
			return 0, nil
		}
		return v, err
	}
	all := make([]Keys, n)
	for p := range all {
		all[p] = PartitionKeys(name, p, n)
	}
	return reachedOf(ctx, rdb, all...)
}

// ReachedPartition returns how far partition p of the n partitions of
// projection name is known to reflect the stream (a read of one aggregate
// depends on its partition alone).
func ReachedPartition(ctx context.Context, rdb redis.Cmdable, name string, p, n int) (uint64, error) {
	return reachedOf(ctx, rdb, PartitionKeys(name, p, n))
}

// reachedOf returns the lowest reached of the partitions keys.
func reachedOf(ctx context.Context, rdb redis.Cmdable, keys ...Keys) (uint64, error) {
	gens := make([]*redis.StringCmd, len(keys))
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			gens[i] = p.Get(ctx, k.Generation())
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, err
	}
	gen := make([]int64, len(keys))
	for i, g := range gens {
		n, err := g.Int64()
		if errors.Is(err, redis.Nil) {
			return 0, nil // a partition with nothing projected yet
		}
		if err != nil {
			return 0, err
		}
		gen[i] = n
	}
	reached := make([]*redis.StringCmd, len(keys))
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			reached[i] = p.Get(ctx, k.Reached(gen[i]))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, err
	}
	var low uint64
	for i, c := range reached {
		v, err := c.Uint64()
		if errors.Is(err, redis.Nil) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		if i == 0 || v < low {
			low = v
		}
	}
	return low, nil
}

// Status returns the status hash of projection name (state, sequence,
// subject, type, error): of a partitioned projection, that of the first
// partition that failed, or else of partition 0.
func Status(ctx context.Context, rdb redis.Cmdable, name string) (map[string]string, error) {
	n, err := Partitions(ctx, rdb, name)
	if err != nil {
		return nil, err
	}
	var first map[string]string
	for p := range n {
		st, err := rdb.HGetAll(ctx, PartitionKeys(name, p, n).Status()).Result()
		if err != nil {
			return nil, err
		}
		if st["state"] == StateFailed {
			return st, nil
		}
		if p == 0 {
			first = st
		}
	}
	return first, nil
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
	// Partitions are the reports of the partitions of a partitioned
	// projection (Name <name>/<p>); the projection's own report sums them
	// up: the lowest checkpoint and reached (how far all partitions are),
	// failed if one failed, rebuilding if one rebuilds.
	Partitions []Report `json:"partitions,omitempty"`
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
	n, err := Partitions(ctx, rdb, name)
	if err != nil {
		return Report{Name: name, State: StateNew}, err
	}
	if n == 1 {
		return inspect(ctx, rdb, KeysOf(name), name)
	}
	rep := Report{Name: name, State: StateRunning, Partitions: make([]Report, n)}
	for p := range n {
		part, err := inspect(ctx, rdb, PartitionKeys(name, p, n), partitionLabel(name, p, n))
		if err != nil {
			return rep, err
		}
		rep.Partitions[p] = part
		if p == 0 || part.Checkpoint < rep.Checkpoint {
			rep.Checkpoint = part.Checkpoint
		}
		if p == 0 || part.Reached < rep.Reached {
			rep.Reached = part.Reached
		}
		rep.Generation = max(rep.Generation, part.Generation)
		switch {
		case part.State == StateFailed && rep.Failed == nil:
			rep.Failed = part.Failed
		case part.State == StateRebuilding:
			if rep.Rebuild == nil {
				rep.Rebuild = &Building{Generation: part.Rebuild.Generation, Checkpoint: part.Rebuild.Checkpoint, Reached: part.Rebuild.Reached}
			}
			rep.Rebuild.Checkpoint = min(rep.Rebuild.Checkpoint, part.Rebuild.Checkpoint)
			rep.Rebuild.Reached = min(rep.Rebuild.Reached, part.Rebuild.Reached)
		case part.State == StateNew && rep.State == StateRunning:
			rep.State = StateNew
		}
	}
	switch {
	case rep.Failed != nil:
		rep.State = StateFailed
	case rep.Rebuild != nil:
		rep.State = StateRebuilding
	}
	return rep, nil
}

// inspect reports one partition of a projection (its keys).
func inspect(ctx context.Context, rdb redis.Cmdable, keys Keys, name string) (Report, error) {
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
