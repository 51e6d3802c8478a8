package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/streams"
)

const (
	// scanCount is the COUNT hint of the SCAN that deletes an old generation.
	scanCount = 500
	// rebuildConsumerPrefix names the consumer of a rebuild:
	// jetsource_rebuild_<name>.
	rebuildConsumerPrefix = "jetsource_rebuild_"
	// rebuildConsumerIdle lets the server remove the consumer of a rebuild
	// whose process died.
	rebuildConsumerIdle = 10 * time.Minute
)

// Rebuild builds projection name afresh into a new generation from the start
// of the stream while the current one keeps answering queries, switches the
// generation pointer once the new one has caught up with the stream, and
// deletes the old generation's keys. The live runner of the projection, in
// this process or another, notices the switch and carries on from the new
// generation's checkpoint.
func (r *Runner) Rebuild(ctx context.Context, name string) error {
	p, ok := r.projections[name]
	if !ok {
		return errUnknownProjection(name)
	}
	keys := KeysOf(name)
	old, err := r.generation(ctx, keys)
	if err != nil {
		return err
	}
	next := old + 1
	if err := r.deleteGeneration(ctx, keys, next); err != nil {
		return err
	}
	stream, err := r.js.Stream(ctx, r.opts.Stream)
	if err != nil {
		return err
	}
	cname := rebuildConsumerPrefix + name
	f, err := r.feed(ctx, cname, p.Subjects, 0, rebuildConsumerIdle)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", name, err)
	}
	defer r.deleteConsumer(ctx, cname)
	info, err := stream.Info(ctx)
	if err != nil {
		return err
	}
	total := info.State.LastSeq
	start := time.Now()
	lastLog := start
	t := &target{keys: keys, gen: next}
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
	if err := r.rdb.Set(ctx, keys.Generation(), next, 0).Err(); err != nil {
		return fmt.Errorf("rebuild %s: switch: %w", name, err)
	}
	r.log.Info("rebuild switched", "projection", name, "generation", next, "checkpoint", formatSeq(t.checkpoint),
		"duration", time.Since(start).Round(time.Millisecond))
	// Queries read pointer and model atomically, so the old keys can go now.
	return r.deleteGeneration(ctx, keys, old)
}

// deleteConsumer deletes a rebuild's consumer once it is done.
func (r *Runner) deleteConsumer(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
	defer cancel()
	if err := r.js.DeleteConsumer(ctx, r.opts.Stream, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		r.log.Warn("rebuild consumer not deleted; the server removes it once idle", "consumer", name, "error", err)
	}
}

// deleteGeneration unlinks every key of generation g.
func (r *Runner) deleteGeneration(ctx context.Context, keys Keys, g int64) error {
	iter := r.rdb.Scan(ctx, 0, keys.Gen(g)+"*", scanCount).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) >= scanCount {
			if err := r.rdb.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return r.rdb.Unlink(ctx, batch...).Err()
	}
	return nil
}
