package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nuid"
	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/streams"
)

const (
	// scanCount is the COUNT hint of the SCAN that deletes an old generation.
	scanCount = 500
	// rebuildConsumerPrefix names the consumer of a rebuild:
	// jetsource_rebuild_<name>.
	rebuildConsumerKind = "rebuild"
	// rebuildConsumerIdle lets the server remove the consumer of a rebuild
	// whose process died.
	rebuildConsumerIdle = 10 * time.Minute
)

var (
	// ErrUnknownProjection means no projection of the runner has the name.
	ErrUnknownProjection = errors.New("no such projection")
	// ErrRebuildRunning means a rebuild of the projection is already
	// running, in this process or another.
	ErrRebuildRunning = errors.New("a rebuild of the projection is already running")
	// errLockLost means a rebuild could not renew its lock.
	errLockLost = errors.New("rebuild lock lost")
)

// Rebuild builds projection name afresh into a new generation from the start
// of the stream while the current one keeps answering queries, switches the
// generation pointer once the new one has caught up with the stream, and
// deletes the old generation's keys. The live runner of the projection, in
// this process or another, notices the switch and carries on from the new
// generation's checkpoint.
//
// One rebuild of a projection runs at a time, whatever the number of
// runners: it holds a lock in Redis (renewed while it runs, released at the
// end), and another call meanwhile returns an error wrapping
// ErrRebuildRunning. An unknown name is an error wrapping
// ErrUnknownProjection.
//
// A partitioned projection is rebuilt partition by partition, all at once:
// each partition takes its own lock (all of them, or the rebuild does not
// start), builds its next generation from its own consumer and switches to
// it once caught up, independently of the others, as its live runner does.
func (r *Runner) Rebuild(ctx context.Context, name string) (err error) {
	p, ok := r.projections[name]
	if !ok {
		return fmt.Errorf("rebuild %q: %w", name, ErrUnknownProjection)
	}
	parts := partsOf(p)
	tokens := make([]string, 0, len(parts))
	defer func() {
		for i, token := range tokens {
			r.unlock(parts[i].keys, token)
		}
	}()
	for _, part := range parts {
		token, err := r.lock(ctx, part.keys)
		if err != nil {
			return fmt.Errorf("rebuild %s: %w", part.label(), err)
		}
		tokens = append(tokens, token)
	}
	r.markRebuilding(name, 1)
	defer r.markRebuilding(name, -1)
	ctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	for i, part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.holdLock(ctx, cancel, part.keys, tokens[i])
		}()
	}
	defer func() {
		cancel(nil)
		wg.Wait()
		if cause := context.Cause(ctx); err != nil && errors.Is(cause, errLockLost) {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
	}()
	errs := make([]error, len(parts))
	var built sync.WaitGroup
	for i, part := range parts {
		built.Add(1)
		go func() {
			defer built.Done()
			if errs[i] = r.rebuild(ctx, part, part.keys, tokens[i]); errs[i] != nil {
				cancel(errs[i]) // the other partitions stop too
			}
		}()
	}
	built.Wait()
	return errors.Join(errs...)
}

// lock takes the rebuild lock of a projection and returns its token.
func (r *Runner) lock(ctx context.Context, keys Keys) (string, error) {
	token := nuid.Next()
	ok, err := r.rdb.SetNX(ctx, keys.RebuildLock(), token, r.opts.LeaseTTL).Result()
	if err != nil {
		return "", fmt.Errorf("take the rebuild lock: %w", err)
	}
	if !ok {
		return "", ErrRebuildRunning
	}
	return token, nil
}

// holdLock renews the rebuild lock until ctx is done, and cancels the
// rebuild when the lock cannot be renewed.
func (r *Runner) holdLock(ctx context.Context, cancel context.CancelCauseFunc, keys Keys, token string) {
	for {
		sleep(ctx, r.opts.LeaseTTL/renewsPerLease)
		if ctx.Err() != nil {
			return
		}
		// The lease's script renews a lock as well: no checkpoint to check.
		held, err := renewScript.Run(ctx, r.rdb, []string{keys.RebuildLock(), keys.Generation(), keys.RebuildLock()},
			token, r.opts.LeaseTTL.Milliseconds(), "0").Int64()
		if err != nil || held < 0 {
			cancel(fmt.Errorf("%w: %v", errLockLost, err))
			return
		}
	}
}

// unlock releases the rebuild lock if it is still the token's.
func (r *Runner) unlock(keys Keys, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if err := releaseScript.Run(ctx, r.rdb, []string{keys.RebuildLock()}, token).Err(); err != nil {
		r.log.Warn("rebuild lock not released; it expires", "error", err)
	}
}

// rebuild builds p into a new generation and switches to it, fenced by the
// rebuild lock that token holds.
func (r *Runner) rebuild(ctx context.Context, p part, keys Keys, token string) error {
	name := p.label()
	old, err := r.generation(ctx, keys)
	if err != nil {
		return err
	}
	next := nextGeneration(old)
	if err := r.deleteGeneration(ctx, keys, next); err != nil {
		return err
	}
	cname := p.consumer(r.opts.Deployment, rebuildConsumerKind)
	f, err := r.feed(ctx, cname, p.Subjects, 0, rebuildConsumerIdle)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", name, err)
	}
	defer r.deleteConsumer(ctx, f.streamName, cname)
	stream, err := r.js.Stream(ctx, f.streamName)
	if err != nil {
		return err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return err
	}
	total := info.State.LastSeq
	start := time.Now()
	lastLog := start
	t := &target{keys: keys, gen: next, only: p.owns()}
	r.log.Info("rebuild started", "projection", name, "generation", next, "stream_last_sequence", total)
	for {
		n, err := r.step(ctx, p, f, stream, t)
		if errors.Is(err, errGap) {
			r.gap(name, err)
			if f, err = r.feed(ctx, cname, p.Subjects, t.checkpoint, rebuildConsumerIdle); err != nil {
				return fmt.Errorf("rebuild %s: %w", name, err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("rebuild %s: %w", name, err)
		}
		if time.Since(lastLog) >= progressEvery && total > 0 {
			lastLog = time.Now()
			done := float64(min(uint64(t.checkpoint), total)) / float64(total)
			var eta time.Duration
			if done > 0 {
				eta = time.Duration(float64(time.Since(start)) * (1 - done) / done)
			}
			r.log.Info("rebuild progress", "projection", name, "sequence", formatSeq(t.checkpoint), "of", total,
				"percent", int(done*100), "eta", eta.Round(time.Second))
		}
		// Caught up: the last fetch was empty and nothing is pending.
		if n == 0 && t.reached >= streams.Sequence(total) {
			ci, err := f.cons.Info(ctx)
			if err != nil {
				return err
			}
			if ci.NumPending == 0 {
				break
			}
		}
	}
	if err := r.switchGeneration(ctx, keys, old, next, keys.RebuildLock(), token); err != nil {
		return fmt.Errorf("rebuild %s: switch: %w", name, err)
	}
	r.log.Info("rebuild switched", "projection", name, "generation", next, "checkpoint", formatSeq(t.checkpoint),
		"duration", time.Since(start).Round(time.Millisecond))
	// Queries read pointer and model atomically, so the old keys can go now.
	return r.deleteGeneration(ctx, keys, old)
}

// nextGeneration is the generation a rebuild of a projection at generation
// g builds (Inspect reads its progress there).
func nextGeneration(g int64) int64 { return g + 1 }

// deleteConsumer deletes a rebuild's consumer once it is done.
func (r *Runner) deleteConsumer(ctx context.Context, stream, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
	defer cancel()
	if err := r.deleteOwnConsumer(ctx, stream, name); err != nil {
		r.log.Warn("rebuild consumer not deleted; the server removes it once idle", "consumer", name, "error", err)
	}
}

// deleteGeneration unlinks every key of generation g. It SCANs for them: on
// a Redis Cluster every master (ForEachMaster), since a SCAN through a
// cluster client reaches one node only. Of an old generation this is
// cleanup (nothing reads a generation the pointer left); before a rebuild
// builds generation g, it empties what a failed rebuild left there, and
// that is complete: SCAN returns every key that exists from its start to
// its end, nobody writes the generation meanwhile (the rebuild lock), and
// every master is scanned.
func (r *Runner) deleteGeneration(ctx context.Context, keys Keys, g int64) error {
	pattern := keys.Gen(g) + "*"
	if c, ok := r.rdb.(*redis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			return unlinkMatching(ctx, m, pattern)
		})
	}
	return unlinkMatching(ctx, r.rdb, pattern)
}

// unlinkMatching unlinks the keys of one server (of one master) that match
// pattern, scanCount at a time. The keys of a generation share one hash
// tag, so each UNLINK is of one slot.
func unlinkMatching(ctx context.Context, rdb redis.Cmdable, pattern string) error {
	iter := rdb.Scan(ctx, 0, pattern, scanCount).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) >= scanCount {
			if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return rdb.Unlink(ctx, batch...).Err()
	}
	return nil
}

func (r *Runner) markRebuilding(name string, delta int) {
	r.rebuildingMu.Lock()
	defer r.rebuildingMu.Unlock()
	if r.rebuilding == nil {
		r.rebuilding = map[string]int{}
	}
	r.rebuilding[name] += delta
	if r.rebuilding[name] <= 0 {
		delete(r.rebuilding, name)
	}
}

// Rebuilding lists the projections this runner is rebuilding now (an
// operator's readiness probe keeps such a projector out of rotation).
func (r *Runner) Rebuilding() []string {
	r.rebuildingMu.Lock()
	defer r.rebuildingMu.Unlock()
	names := make([]string, 0, len(r.rebuilding))
	for n := range r.rebuilding {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
