package projections

import (
	"encoding/json"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/jetsource/jetsource/shred"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/tracing"
)

// Defaults of the runner's settings: a zero Options field means its default.
const (
	DefaultBatchSize    = 256
	DefaultMaxRetries   = 5
	DefaultRetryBackoff = 200 * time.Millisecond
	DefaultLeaseTTL     = 5 * time.Second
	DefaultFetchWait    = 250 * time.Millisecond
	// NoRetries as Options.MaxRetries stops a projection on the first
	// failure of its handler.
	NoRetries = -1
	// consumerKind names the durable consumers of live projections:
	// jetsource_[<deployment>_]proj_<name>.
	consumerKind = "proj"
	// progressEvery is how often a rebuild logs its progress.
	progressEvery = 2 * time.Second
	// requestTimeout bounds one JetStream API call of the runner.
	requestTimeout = 5 * time.Second
)

// Options configure a Runner. A zero field means its default.
type Options struct {
	// Stream is the event stream (default streams.DefaultStream) of the
	// default layout, when Layout is empty.
	Stream string
	// Layout is the deployment's layout of event streams (see
	// streams.Layout); each projection reads the one stream its subjects
	// lie in. Empty: the one stream Stream.
	Layout streams.Layout
	// BatchSize is the most events fetched and applied at once.
	BatchSize int
	// MaxRetries is how often an event whose handler fails is retried
	// before its projection stops on it: 0 means DefaultMaxRetries,
	// NoRetries (any negative value) means none.
	MaxRetries int
	// RetryBackoff is the pause before the first retry; each next one
	// doubles it.
	RetryBackoff time.Duration
	// LeaseTTL is how long a runner that stopped renewing keeps a
	// projection before another runner may take it over.
	LeaseTTL time.Duration
	// FetchWait is how long one fetch waits for events.
	FetchWait time.Duration
	// Deployment names the deployment the runner belongs to; it is part of
	// the name of every consumer the runner creates, so that two
	// deployments on one NATS (say a second projector fleet writing another
	// Redis) never share or delete each other's consumers. Empty: the names
	// of a single deployment, jetsource_proj_<projection>.
	Deployment string
	// Logger defaults to slog.Default.
	Logger *slog.Logger
	// Registerer, when set, registers the runner's metrics.
	Registerer prometheus.Registerer
	// TracerProvider makes the spans of the events applied; nil means the
	// global one (otel.GetTracerProvider).
	TracerProvider trace.TracerProvider
	// Committed, when set, is called after each batch of events a running
	// projection committed (not during rebuilds), on the runner's goroutine:
	// it must not block (live queries publish a notice from it).
	Committed func(Committed)
	// Personal opens the sealed personal fields of events before Apply sees
	// them and completes the forgets events record. Nil: the keys of the
	// bucket streams.DefaultKeyBucket on the runner's JetStream.
	Personal PersonalData
}

// PersonalData opens the personal fields of events, sealed with the key of
// their aggregate (a forgotten aggregate's read as null), and completes a
// forget an event recorded. *streams.Store is one.
type PersonalData interface {
	Unseal(ctx context.Context, ev streams.Recorded) (streams.Recorded, error)
	CompleteForget(ctx context.Context, ref streams.Ref) error
}

func (o *Options) defaults() {
	if o.Stream == "" {
		o.Stream = streams.DefaultStream
	}
	if len(o.Layout) == 0 {
		o.Layout = streams.Layout{{Name: o.Stream}}
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = DefaultMaxRetries
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = DefaultRetryBackoff
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.FetchWait <= 0 {
		o.FetchWait = DefaultFetchWait
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// keyring is the PersonalData of a runner given no store: the keys alone.
type keyring struct{ keys *shred.Keyring }

func (k keyring) Unseal(ctx context.Context, ev streams.Recorded) (streams.Recorded, error) {
	return streams.Unseal(ctx, k.keys, ev)
}

func (k keyring) CompleteForget(ctx context.Context, ref streams.Ref) error {
	held, err := k.keys.Holds(ctx, ref.Key())
	if err != nil || !held {
		return err
	}
	return k.keys.Forget(ctx, ref.Key())
}

// Runner runs projections.
type Runner struct {
	js          jetstream.JetStream
	rdb         redis.UniversalClient
	projections map[string]Projection
	order       []string
	opts        Options
	id          string
	log         *slog.Logger
	metrics     *metrics
	tracer      trace.Tracer
	// rebuilding counts the rebuilds this runner runs, by projection.
	rebuildingMu sync.Mutex
	rebuilding   map[string]int
	// members shares the partitions of partitioned projections with the
	// other runners.
	members *membership
}

// errRestart means the runner's view of Redis is no longer true (lease lost,
// generation switched, checkpoint moved or vanished): start over from Redis.
var errRestart = errors.New("projection state changed in redis")

// errRebalance means the runner holds more partitions than its share (a
// runner joined): it releases this one.
var errRebalance = errors.New("partition handed over")

// NewRunner returns a runner of projections on the stream of js and the
// Redis rdb.
func NewRunner(js jetstream.JetStream, rdb redis.UniversalClient, projections []Projection, options ...Option) (*Runner, error) {
	var opts Options
	for _, o := range options {
		o(&opts)
	}
	opts.defaults()
	if opts.Personal == nil {
		opts.Personal = keyring{shred.KeyringOf(js, streams.DefaultKeyBucket)}
	}
	r := &Runner{js: js, rdb: rdb, projections: map[string]Projection{}, opts: opts, id: nuid.Next(), log: opts.Logger,
		tracer: tracing.Tracer(opts.TracerProvider), members: newMembership()}
	for _, p := range projections {
		if err := p.validate(); err != nil {
			return nil, err
		}
		if _, dup := r.projections[p.Name]; dup {
			return nil, fmt.Errorf("projections: %s registered twice", p.Name)
		}
		if _, err := opts.Layout.StreamOfSubjects(p.Subjects); err != nil {
			return nil, fmt.Errorf("projections: projection %s: %w", p.Name, err)
		}
		r.projections[p.Name] = recoverer(p, r.log)
		r.order = append(r.order, p.Name)
		r.members.add(p)
	}
	r.metrics = newMetrics(opts.Registerer)
	return r, nil
}

// Run runs every projection (each partition of a partitioned one) until ctx
// is done, and returns when all have stopped. A projection that fails on an
// event stops alone. A projection configured with a partition count other
// than the one its read model is kept in is refused at once (an error
// wrapping ErrPartitionCount), and nothing runs.
func (r *Runner) Run(ctx context.Context) error {
	for _, name := range r.order {
		if err := r.recordPartitions(ctx, r.projections[name]); err != nil {
			return err
		}
	}
	r.join(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.heartbeats(ctx)
	}()
	for _, name := range r.order {
		for _, p := range partsOf(r.projections[name]) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.runProjection(ctx, p)
			}()
		}
	}
	wg.Wait()
	return nil
}

// runProjection keeps one projection partition going: take the lease (of a
// partitioned projection: within the runner's fair share), follow the
// stream, start over when Redis changed under it or the consumer skipped a
// delivery, stop on a poison event, hand the partition over when the runner
// holds more than its share.
func (r *Runner) runProjection(ctx context.Context, p part) {
	keys := p.keys
	defer r.releaseLease(keys)
	defer r.members.drop(p)
	for ctx.Err() == nil {
		if !r.members.claim(p) {
			sleep(ctx, r.opts.LeaseTTL/renewsPerLease)
			continue
		}
		ok, err := r.rdb.SetNX(ctx, keys.Lease(), r.id, r.opts.LeaseTTL).Result()
		if err == nil && !ok {
			var holder string
			holder, err = r.rdb.Get(ctx, keys.Lease()).Result()
			ok = err == nil && holder == r.id
		}
		if err != nil || !ok {
			r.members.drop(p)
			if err != nil && ctx.Err() == nil {
				r.log.Warn("projection lease not taken", "projection", p.label(), "error", err)
			}
			sleep(ctx, r.opts.LeaseTTL/renewsPerLease)
			continue
		}
		err = r.follow(ctx, p)
		var applyErr *ApplyError
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errRebalance):
			r.releaseLease(keys)
			r.log.Info("projection partition handed over to a runner that joined", "projection", p.label())
			sleep(ctx, r.rebalancePause())
		case errors.As(err, &applyErr):
			r.fail(ctx, p, applyErr)
			r.holdFailed(ctx, keys)
		case errors.Is(err, errGap):
			r.gap(p.label(), err)
		case errors.Is(err, errRestart):
			r.log.Info("projection restarting from redis", "projection", p.label(), "reason", err)
		default:
			r.log.Warn("projection interrupted; retrying", "projection", p.label(), "error", err)
			sleep(ctx, r.opts.RetryBackoff)
		}
	}
}

// gap logs and counts a delivery the runner was not handed.
func (r *Runner) gap(name string, err error) {
	r.log.Warn("projection consumer skipped a delivery: starting over from the checkpoint", "projection", name, "error", err)
	r.metrics.gaps.WithLabelValues(name).Inc()
}

// fail records that projection p stopped on an event, in its status hash,
// the log and the metrics.
func (r *Runner) fail(ctx context.Context, p part, e *ApplyError) {
	r.log.Error("projection stopped on an event it cannot apply", "projection", p.label(),
		"sequence", uint64(e.Event.Sequence), "subject", e.Event.Ref.Subject(), "type", e.Event.Type, "error", e.Err)
	err := r.rdb.HSet(context.WithoutCancel(ctx), p.keys.Status(), "state", "failed", "sequence", uint64(e.Event.Sequence),
		"subject", e.Event.Ref.Subject(), "type", e.Event.Type, "error", e.Err.Error()).Err()
	if err != nil {
		r.log.Error("projection status not recorded", "projection", p.label(), "error", err)
	}
	r.metrics.failed.WithLabelValues(p.label()).Set(1)
}

// holdFailed keeps the lease of a failed projection, so that no other
// runner takes it over and retries the poison event again and again, until
// ctx is done or the projection changed under it (the lease was lost, a
// rebuild switched the generation): then the runner starts over.
func (r *Runner) holdFailed(ctx context.Context, keys Keys) {
	gen, err := r.rdb.Get(ctx, keys.Generation()).Int64()
	if err != nil {
		return
	}
	t := &target{keys: keys, gen: gen, lease: r.id}
	for r.pause(ctx, t, r.opts.LeaseTTL) == nil {
	}
}

func (r *Runner) releaseLease(keys Keys) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	releaseScript.Run(ctx, r.rdb, []string{keys.Lease()}, r.id)
}

const (
	// renewsPerLease is how many times a lease is renewed within its TTL.
	renewsPerLease = 3
	// checkpointGone is renewScript's answer when the checkpoint vanished.
	checkpointGone = -2
)

var (
	// renewScript extends the lease if it is ours and returns the current
	// generation, -1 when the lease is not ours, or -2 when the runner
	// believes in a checkpoint (ARGV[3] = '1') that is gone.
	renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[3]) == 0 then return -2 end
local g = redis.call('GET', KEYS[2])
if not g then return 0 end
return tonumber(g)`)
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
)

// renew extends the lease of a live runner's target and checks that the
// target is still where its projection stands (the generation, and the
// checkpoint if it has one, so that even an idle runner notices a lost
// checkpoint); errRestart when not. A target without a lease (a rebuild) has
// nothing to renew.
func (r *Runner) renew(ctx context.Context, t *target) error {
	if t.lease == "" {
		return nil
	}
	hasCheckpoint := "0"
	if t.checkpoint > 0 {
		hasCheckpoint = "1"
	}
	current, err := renewScript.Run(ctx, r.rdb, []string{t.keys.Lease(), t.keys.Generation(), t.keys.Checkpoint(t.gen)},
		t.lease, r.opts.LeaseTTL.Milliseconds(), hasCheckpoint).Int64()
	if err != nil {
		return err
	}
	if current == checkpointGone {
		return fmt.Errorf("%w: checkpoint %d of generation %d is gone", errRestart, t.checkpoint, t.gen)
	}
	if current != t.gen {
		return fmt.Errorf("%w: lease or generation (now %d, was %d)", errRestart, current, t.gen)
	}
	return nil
}

// pause waits d, renewing t's lease meanwhile so that a long pause (a
// retry's backoff) does not let it expire; it returns early with the error
// when ctx is done or the lease cannot be renewed.
func (r *Runner) pause(ctx context.Context, t *target, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		sleep(ctx, min(left, r.opts.LeaseTTL/renewsPerLease))
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.renew(ctx, t); err != nil {
			return err
		}
	}
}

// generation returns the current generation, creating generation 1.
func (r *Runner) generation(ctx context.Context, keys Keys) (int64, error) {
	if err := r.rdb.SetNX(ctx, keys.Generation(), 1, 0).Err(); err != nil {
		return 0, err
	}
	return r.rdb.Get(ctx, keys.Generation()).Int64()
}

func (r *Runner) checkpoint(ctx context.Context, key string) (streams.Sequence, error) {
	v, err := r.rdb.Get(ctx, key).Uint64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return streams.Sequence(v), err
}

// follow applies the projection's events from its checkpoint on until ctx is
// done or something changes under it.
func (r *Runner) follow(ctx context.Context, p part) error {
	keys := p.keys
	gen, err := r.generation(ctx, keys)
	if err != nil {
		return err
	}
	cp, err := r.checkpoint(ctx, keys.Checkpoint(gen))
	if err != nil {
		return err
	}
	lost, err := r.lostCheckpoint(ctx, keys, gen, cp)
	if err != nil {
		return err
	}
	if lost {
		return r.freshGeneration(ctx, p.label(), keys, gen)
	}
	if cp == 0 {
		r.log.Info("projection has no checkpoint: building it from the start of the stream", "projection", p.label(), "generation", gen)
	}
	r.rdb.HSet(ctx, keys.Status(), "state", "running", "sequence", uint64(cp), "subject", "", "type", "", "error", "")
	r.metrics.failed.WithLabelValues(p.label()).Set(0)
	f, err := r.feed(ctx, p.consumer(r.opts.Deployment, consumerKind), p.Subjects, cp, 0)
	if err != nil {
		return err
	}
	r.metrics.lagOf(p.label(), f.cons.CachedInfo().NumPending, 0)
	stream, err := r.js.Stream(ctx, f.streamName)
	if err != nil {
		return err
	}
	t := &target{keys: keys, gen: gen, lease: r.id, checkpoint: cp, reached: cp, only: p.owns()}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.renew(ctx, t); err != nil {
			return err
		}
		if r.members.excess(p) {
			return errRebalance
		}
		if _, err := r.step(ctx, p, f, stream, t); err != nil {
			return err
		}
	}
}

// lostCheckpoint reports a generation whose model cannot be continued: a
// checkpoint but no versions hash, or no checkpoint but a versions hash or
// a reached sequence, which every commit writes in the same MULTI/EXEC as
// the checkpoint (evicted, deleted, a partial restore). Replaying onto it
// would apply events twice. It reads only keys it knows by name, never
// SCANs, so it holds on a Redis Cluster as on one Redis; all three keys
// share the projection's slot, so they are lost together with its model
// (a flushed master) or the loss shows in them.
func (r *Runner) lostCheckpoint(ctx context.Context, keys Keys, gen int64, cp streams.Sequence) (bool, error) {
	var hasCheckpoint, hasVersions, hasReached *redis.IntCmd
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		hasCheckpoint = p.Exists(ctx, keys.Checkpoint(gen))
		hasVersions = p.Exists(ctx, keys.Versions(gen))
		hasReached = p.Exists(ctx, keys.Reached(gen))
		return nil
	})
	if err != nil {
		return false, err
	}
	switch {
	case hasCheckpoint.Val() == 0:
		return hasVersions.Val() > 0 || hasReached.Val() > 0, nil
	case cp > 0:
		return hasVersions.Val() == 0, nil
	default: // checkpoint 0: nothing applied yet, so no versions either
		return hasVersions.Val() > 0, nil
	}
}

// freshGeneration moves a projection whose generation lost its checkpoint
// to an empty new generation, which the runner then builds from the start
// of the stream, and deletes the old one. It returns errRestart.
func (r *Runner) freshGeneration(ctx context.Context, name string, keys Keys, old int64) error {
	next := old + 1
	// A rebuild builds generation old+1 too: one at a time.
	token, err := r.lock(ctx, keys)
	if errors.Is(err, ErrRebuildRunning) {
		sleep(ctx, r.opts.LeaseTTL/renewsPerLease)
		return fmt.Errorf("%w: lost its checkpoint while a rebuild runs", errRestart)
	}
	if err != nil {
		return err
	}
	defer r.unlock(keys, token)
	r.log.Warn("projection lost its checkpoint but not its model: rebuilding it into a fresh generation",
		"projection", name, "generation", old, "fresh", next)
	if err := r.deleteGeneration(ctx, keys, next); err != nil {
		return err
	}
	if err := r.switchGeneration(ctx, keys, old, next, keys.Lease(), r.id); err != nil {
		return err
	}
	if err := r.deleteGeneration(ctx, keys, old); err != nil {
		return err
	}
	return fmt.Errorf("%w: moved to fresh generation %d", errRestart, next)
}

// switchGeneration points the projection at generation to, provided it
// still points at from and holder still holds fence (a lease or a lock);
// errRestart when not.
func (r *Runner) switchGeneration(ctx context.Context, keys Keys, from, to int64, fence, holder string) error {
	// The fence's holder renews it meanwhile (a PEXPIRE, which aborts the
	// watch without changing what is checked): the checks run again on
	// each attempt, so a touched fence is simply tried again.
	var err error
	for range switchAttempts {
		if err = r.trySwitch(ctx, keys, from, to, fence, holder); !errors.Is(err, redis.TxFailedErr) {
			break
		}
	}
	if errors.Is(err, redis.TxFailedErr) {
		return fmt.Errorf("%w: another writer touched the projection", errRestart)
	}
	return err
}

// switchAttempts bounds the attempts of a generation switch whose watch a
// renewal of its fence aborted.
const switchAttempts = 5

// trySwitch is one attempt of switchGeneration.
func (r *Runner) trySwitch(ctx context.Context, keys Keys, from, to int64, fence, holder string) error {
	return r.rdb.Watch(ctx, func(tx *redis.Tx) error {
		if g, err := tx.Get(ctx, keys.Generation()).Int64(); err != nil || g != from {
			return fmt.Errorf("%w: generation switched", errRestart)
		}
		if h, err := tx.Get(ctx, fence).Result(); err != nil || h != holder {
			return fmt.Errorf("%w: %s lost", errRestart, fence)
		}
		_, err := tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.Set(ctx, keys.Generation(), to, 0)
			return nil
		})
		return err
	}, keys.Generation(), fence)
}

// target is where a run of a projection writes: a generation, fenced by the
// lease (when set) and the checkpoint it believes in.
type target struct {
	keys       Keys
	gen        int64
	lease      string
	checkpoint streams.Sequence
	reached    streams.Sequence
	// voided are events a correction (streams.EventVoided) voided.
	voided map[streams.Sequence]bool
	// only, when set, says which aggregates' events the target applies
	// (those of its partition); the others are skipped, their sequences
	// still moving the checkpoint on.
	only func(streams.Ref) bool
}

// skips reports whether t skips ev: voided by a correction, or another
// partition's.
func (t *target) skips(ev streams.Recorded) bool {
	return t.voided[ev.Sequence] || t.only != nil && !t.only(ev.Ref)
}

// step fetches one batch, checks that it follows what the runner saw
// before, applies it and acknowledges it; on an empty fetch it records how
// far the model is known to reach. It returns how many events it applied.
func (r *Runner) step(ctx context.Context, p part, f *feed, stream jetstream.Stream, t *target) (int, error) {
	batch, err := f.cons.Fetch(r.opts.BatchSize, jetstream.FetchMaxWait(r.opts.FetchWait))
	if err != nil {
		return 0, err
	}
	var events []streams.Recorded
	var lastMsg jetstream.Msg
	var pending uint64 // the consumer's pending count after lastMsg
	var poison *ApplyError
	for msg := range batch.Messages() {
		meta, err := msg.Metadata()
		if err != nil {
			return 0, err
		}
		if err := f.check(meta); err != nil {
			return 0, err
		}
		lastMsg, pending = msg, meta.NumPending
		seq := streams.Sequence(meta.Sequence.Stream)
		if t.only != nil {
			// Another partition's event is neither decoded nor opened: it
			// only moves the checkpoint on.
			if ref, err := streams.ParseSubject(msg.Subject()); err == nil && !t.only(ref) {
				events = append(events, streams.Recorded{Ref: ref, Sequence: seq})
				continue
			}
		}
		ev, err := streams.Decode(msg.Subject(), seq, msg.Headers(), msg.Data())
		if err == nil {
			ev, err = r.opts.Personal.Unseal(ctx, ev)
			if err != nil && !errors.Is(err, streams.ErrCorruptEvent) {
				return 0, err // the keys cannot be read now: start over
			}
		}
		if err != nil {
			poison = &ApplyError{Projection: p.Name, Event: streams.Recorded{Sequence: seq, Type: msg.Headers().Get(streams.HeaderType)}, Err: err}
			break
		}
		events = append(events, ev)
	}
	if err := batch.Error(); poison == nil && err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
		return 0, err
	}
	if len(events) > 0 {
		r.metrics.lagOf(p.label(), pending, uint64(len(events)))
		if err := r.applyWithRetries(ctx, p, t, events); err != nil {
			return 0, err
		}
	}
	if poison != nil {
		// The events before it are in; it is not, and is never acknowledged.
		r.metrics.lagOf(p.label(), pending, 1)
		return 0, poison
	}
	if lastMsg != nil {
		r.metrics.lagOf(p.label(), pending, 0)
		if err := lastMsg.Ack(); err != nil {
			r.log.Debug("ack failed; the batch will be redelivered and the runner starts over", "projection", p.label(), "error", err)
		}
		return len(events), nil
	}
	// Idle. The stream's last sequence is read before the consumer's
	// pending count, so "nothing pending" covers every event up to it.
	sinfo, err := stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	last := sinfo.State.LastSeq
	info, err := f.idle(ctx)
	if err != nil {
		return 0, err
	}
	r.metrics.lagOf(p.label(), info.NumPending, uint64(info.NumAckPending))
	if info.NumPending == 0 && info.NumAckPending == 0 && streams.Sequence(last) > t.reached {
		if err := r.commit(ctx, p, t, nil, streams.Sequence(last)); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// maxBackoffDoublings caps the growth of the retry backoff.
const maxBackoffDoublings = 6

// applyWithRetries commits events; an event the handler refuses is retried
// alone, then reported as an *ApplyError.
func (r *Runner) applyWithRetries(ctx context.Context, p part, t *target, events []streams.Recorded) error {
	if p.ReadsModel && len(events) > 1 {
		// Each event's reads must see the writes of those before it: one
		// transaction per event.
		for i := range events {
			if err := r.applyWithRetries(ctx, p, t, events[i:i+1]); err != nil {
				return err
			}
		}
		return nil
	}
	for len(events) > 0 {
		err := r.commit(ctx, p, t, events, 0)
		var bad *badEvent
		if !errors.As(err, &bad) {
			return err
		}
		if bad.index > 0 {
			if err := r.commit(ctx, p, t, events[:bad.index], 0); err != nil {
				return err
			}
			events = events[bad.index:]
		}
		if err := r.retry(ctx, p, t, events[0], bad.err); err != nil {
			return err
		}
		events = events[1:]
	}
	return nil
}

// retry applies ev, which just failed with cause, alone until it goes in,
// with a doubling backoff during which the lease is renewed; it stops
// retrying when the lease is lost, and reports an *ApplyError once the
// retries are spent.
func (r *Runner) retry(ctx context.Context, p part, t *target, ev streams.Recorded, cause error) error {
	for attempt := 1; ; attempt++ {
		// An event that breaks its version sequence stays broken, unless a
		// correction voided it: then it is skipped.
		if errors.Is(cause, ErrVersionSequence) {
			voided, err := r.voided(ctx, ev)
			if err != nil {
				return err
			}
			if !voided {
				return &ApplyError{Projection: p.Name, Event: ev, Err: cause}
			}
			if t.voided == nil {
				t.voided = map[streams.Sequence]bool{}
			}
			t.voided[ev.Sequence] = true
			r.log.Warn("projection skips an event a correction voided", "projection", p.label(),
				"sequence", uint64(ev.Sequence), "subject", ev.Ref.Subject())
			return r.commit(ctx, p, t, []streams.Recorded{ev}, 0)
		}
		if attempt > r.opts.MaxRetries {
			return &ApplyError{Projection: p.Name, Event: ev, Err: cause}
		}
		r.log.Warn("projection handler failed; retrying", "projection", p.label(), "sequence", uint64(ev.Sequence), "attempt", attempt, "error", cause)
		if err := r.pause(ctx, t, r.opts.RetryBackoff<<min(attempt-1, maxBackoffDoublings)); err != nil {
			return err
		}
		err := r.commit(ctx, p, t, []streams.Recorded{ev}, 0)
		var bad *badEvent
		if !errors.As(err, &bad) {
			return err // nil: it went in
		}
		cause = bad.err
	}
}

type badEvent struct {
	index int
	err   error
}

func (b *badEvent) Error() string { return fmt.Sprintf("event %d: %v", b.index, b.err) }

// commit applies events (and moves reached to at least reach) in one
// MULTI/EXEC, fenced by WATCH: the checkpoint must still be what the runner
// believes, the generation must still be current and, for a live runner, the
// lease must still be its own. Each event's version must follow the last one
// applied of its aggregate (kept per generation in the versions hash). The
// reads behind these checks go in one round trip.
func (r *Runner) commit(ctx context.Context, p part, t *target, events []streams.Recorded, reach streams.Sequence) error {
	cpKey, reachedKey, versionsKey := t.keys.Checkpoint(t.gen), t.keys.Reached(t.gen), t.keys.Versions(t.gen)
	watched := []string{cpKey, t.keys.Generation()}
	if t.lease != "" {
		watched = append(watched, t.keys.Lease())
	}
	next := t.checkpoint
	if len(events) > 0 {
		next = events[len(events)-1].Sequence
	}
	reached := max(t.reached, next, reach)
	var subjects []string
	versions := map[string]streams.Version{}
	for _, ev := range events {
		if t.skips(ev) {
			continue
		}
		if _, seen := versions[ev.Ref.Subject()]; !seen {
			versions[ev.Ref.Subject()] = 0
			subjects = append(subjects, ev.Ref.Subject())
		}
	}
	spans := r.startApply(ctx, p.label(), t, events)
	err := r.rdb.Watch(ctx, func(tx *redis.Tx) error {
		var cpCmd, genCmd, leaseCmd *redis.StringCmd
		var versionsCmd *redis.SliceCmd
		_, err := tx.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			cpCmd = pipe.Get(ctx, cpKey)
			if t.lease != "" {
				genCmd, leaseCmd = pipe.Get(ctx, t.keys.Generation()), pipe.Get(ctx, t.keys.Lease())
			}
			if len(subjects) > 0 {
				versionsCmd = pipe.HMGet(ctx, versionsKey, subjects...)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		cp, err := cpCmd.Uint64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		if streams.Sequence(cp) != t.checkpoint {
			return fmt.Errorf("%w: checkpoint is %d, runner had %d", errRestart, cp, t.checkpoint)
		}
		if t.lease != "" {
			if g, err := genCmd.Int64(); err != nil || g != t.gen {
				return fmt.Errorf("%w: generation switched", errRestart)
			}
			if holder, err := leaseCmd.Result(); err != nil || holder != t.lease {
				return fmt.Errorf("%w: lease lost", errRestart)
			}
		}
		if versionsCmd != nil {
			for i, v := range versionsCmd.Val() {
				if s, ok := v.(string); ok {
					n, _ := strconv.ParseUint(s, 10, 64)
					versions[subjects[i]] = streams.Version(n)
				}
			}
		}
		for i, ev := range events {
			if t.skips(ev) {
				continue // corrected or another partition's: skipped, its version does not count
			}
			subject := ev.Ref.Subject()
			if last := versions[subject]; ev.Version != last+1 {
				return &badEvent{index: i, err: &VersionError{Subject: subject, Last: last, Got: ev.Version}}
			}
			versions[subject] = ev.Version
		}
		_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			ptx := &Tx{Pipeliner: pipe, Keys: t.keys.Space(t.gen), projection: p.Name, personal: r.opts.Personal}
			if p.ReadsModel {
				ptx.reader = tx
			}
			for i, ev := range events {
				if t.skips(ev) {
					continue // voided by a correction or another partition's: skipped
				}
				if err := p.Apply(spans.ctx(ctx, i), ptx, ev); err != nil {
					return &badEvent{index: i, err: err}
				}
			}
			if len(subjects) > 0 {
				fields := make([]any, 0, 2*len(subjects))
				for _, s := range subjects {
					fields = append(fields, s, uint64(versions[s]))
				}
				pipe.HSet(ctx, versionsKey, fields...)
			}
			pipe.Set(ctx, cpKey, uint64(next), 0)
			pipe.Set(ctx, reachedKey, uint64(reached), 0)
			return nil
		})
		return err
	}, watched...)
	if errors.Is(err, redis.TxFailedErr) {
		err = fmt.Errorf("%w: another writer touched the projection", errRestart)
	}
	spans.end(err)
	if err != nil {
		return err
	}
	t.checkpoint, t.reached = next, reached
	owned := events
	if t.only != nil {
		owned = make([]streams.Recorded, 0, len(events))
		for _, ev := range events {
			if t.only(ev.Ref) {
				owned = append(owned, ev)
			}
		}
	}
	r.metrics.applied.WithLabelValues(p.label()).Add(float64(len(owned)))
	if r.opts.Committed != nil && t.lease != "" && len(owned) > 0 {
		r.opts.Committed(committedOf(p.Name, next, owned))
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// formatSeq is used in logs.
func formatSeq(s streams.Sequence) string { return strconv.FormatUint(uint64(s), 10) }

// voidLookahead bounds how many later events of the aggregate are read to
// find the correction of an event that breaks its history.
const voidLookahead = 1000

// voided reports whether a correction (streams.EventVoided) later in ev's
// aggregate voids ev.
func (r *Runner) voided(ctx context.Context, ev streams.Recorded) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	stream, err := r.opts.Layout.StreamOfSubjects([]string{ev.Ref.Subject()})
	if err != nil {
		return false, err
	}
	msgs, err := jetstreamext.GetBatch(ctx, r.js, stream, voidLookahead,
		jetstreamext.GetBatchSeq(uint64(ev.Sequence)+1), jetstreamext.GetBatchSubject(ev.Ref.Subject()))
	if err != nil {
		return false, err
	}
	for msg, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if msg.Header.Get(streams.HeaderType) != streams.VoidType {
			continue
		}
		var v streams.Void
		if json.Unmarshal(msg.Data, &v) == nil && v.Sequence == ev.Sequence {
			return true, nil
		}
	}
	return false, nil
}
