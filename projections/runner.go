package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/streams"
)

// Defaults of the runner's settings.
const (
	DefaultBatchSize    = 256
	DefaultMaxRetries   = 5
	DefaultRetryBackoff = 200 * time.Millisecond
	DefaultLeaseTTL     = 5 * time.Second
	DefaultFetchWait    = 250 * time.Millisecond
	// consumerPrefix names the durable consumers: jetsource_proj_<name>.
	consumerPrefix = "jetsource_proj_"
	// progressEvery is how often a rebuild logs its progress.
	progressEvery = 2 * time.Second
	// requestTimeout bounds one JetStream API call of the runner.
	requestTimeout = 5 * time.Second
)

// Options configure a Runner.
type Options struct {
	Stream       string
	BatchSize    int
	MaxRetries   int
	RetryBackoff time.Duration
	LeaseTTL     time.Duration
	FetchWait    time.Duration
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
}

func (o *Options) defaults() {
	if o.Stream == "" {
		o.Stream = streams.DefaultStream
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.MaxRetries < 0 {
		o.MaxRetries = DefaultMaxRetries
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
}

// errRestart means the runner's view of Redis is no longer true (lease lost,
// generation switched, checkpoint moved or vanished): start over from Redis.
var errRestart = errors.New("projection state changed in redis")

// NewRunner returns a runner of projections on the stream of js and the
// Redis rdb.
func NewRunner(js jetstream.JetStream, rdb redis.UniversalClient, projections []Projection, opts Options) (*Runner, error) {
	opts.defaults()
	r := &Runner{js: js, rdb: rdb, projections: map[string]Projection{}, opts: opts, id: nuid.Next(), log: opts.Logger}
	for _, p := range projections {
		if err := p.validate(); err != nil {
			return nil, err
		}
		if _, dup := r.projections[p.Name]; dup {
			return nil, fmt.Errorf("projections: %s registered twice", p.Name)
		}
		r.projections[p.Name] = p
		r.order = append(r.order, p.Name)
	}
	r.metrics = newMetrics(opts.Registerer)
	return r, nil
}

// Run runs every projection until ctx is done, and returns when all have
// stopped. A projection that fails on an event stops alone.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, name := range r.order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runProjection(ctx, r.projections[name])
		}()
	}
	wg.Wait()
	return nil
}

// runProjection keeps one projection going: take the lease, follow the
// stream, start over when Redis changed under it, stop on a poison event.
func (r *Runner) runProjection(ctx context.Context, p Projection) {
	keys := KeysOf(p.Name)
	defer r.releaseLease(keys)
	for ctx.Err() == nil {
		ok, err := r.rdb.SetNX(ctx, keys.Lease(), r.id, r.opts.LeaseTTL).Result()
		if err == nil && !ok {
			var holder string
			holder, err = r.rdb.Get(ctx, keys.Lease()).Result()
			ok = err == nil && holder == r.id
		}
		if err != nil || !ok {
			if err != nil && ctx.Err() == nil {
				r.log.Warn("projection lease not taken", "projection", p.Name, "error", err)
			}
			sleep(ctx, r.opts.LeaseTTL/3)
			continue
		}
		err = r.follow(ctx, p)
		var applyErr *ApplyError
		switch {
		case ctx.Err() != nil:
			return
		case errors.As(err, &applyErr):
			r.log.Error("projection stopped on an event it cannot apply", "projection", p.Name,
				"sequence", applyErr.Event.Sequence, "subject", applyErr.Event.Ref.Subject(), "type", applyErr.Event.Type, "error", applyErr.Err)
			r.rdb.HSet(context.WithoutCancel(ctx), keys.Status(), "state", "failed", "sequence", uint64(applyErr.Event.Sequence),
				"subject", applyErr.Event.Ref.Subject(), "type", applyErr.Event.Type, "error", applyErr.Err.Error())
			r.metrics.failed.WithLabelValues(p.Name).Set(1)
			return
		case errors.Is(err, errRestart):
			r.log.Info("projection restarting from redis", "projection", p.Name, "reason", err)
		default:
			r.log.Warn("projection interrupted; retrying", "projection", p.Name, "error", err)
			sleep(ctx, r.opts.RetryBackoff)
		}
	}
}

func (r *Runner) releaseLease(keys Keys) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	releaseScript.Run(ctx, r.rdb, []string{keys.Lease()}, r.id)
}

var (
	// renewScript extends the lease if it is ours and returns the current
	// generation (or -1 when the lease is not ours).
	renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local g = redis.call('GET', KEYS[2])
if not g then return 0 end
return tonumber(g)`)
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
)

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
func (r *Runner) follow(ctx context.Context, p Projection) error {
	keys := KeysOf(p.Name)
	gen, err := r.generation(ctx, keys)
	if err != nil {
		return err
	}
	cp, err := r.checkpoint(ctx, keys.Checkpoint(gen))
	if err != nil {
		return err
	}
	if cp == 0 {
		r.log.Info("projection has no checkpoint: building it from the start of the stream", "projection", p.Name, "generation", gen)
	}
	r.rdb.HSet(ctx, keys.Status(), "state", "running", "sequence", uint64(cp), "subject", "", "type", "", "error", "")
	cons, err := r.consumer(ctx, p, cp)
	if err != nil {
		return err
	}
	stream, err := r.js.Stream(ctx, r.opts.Stream)
	if err != nil {
		return err
	}
	t := &target{keys: keys, gen: gen, lease: r.id, checkpoint: cp, reached: cp}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		current, err := renewScript.Run(ctx, r.rdb, []string{keys.Lease(), keys.Generation()}, r.id, r.opts.LeaseTTL.Milliseconds()).Int64()
		if err != nil {
			return err
		}
		if current != gen {
			return fmt.Errorf("%w: lease or generation (now %d, was %d)", errRestart, current, gen)
		}
		if _, err := r.step(ctx, p, cons, stream, t); err != nil {
			return err
		}
		r.metrics.lagOf(p.Name, stream, t.checkpoint)
	}
}

// target is where a run of a projection writes: a generation, fenced by the
// lease (when set) and the checkpoint it believes in.
type target struct {
	keys       Keys
	gen        int64
	lease      string
	checkpoint streams.Sequence
	reached    streams.Sequence
}

// fetcher is what step needs of a consumer (durable or ordered).
type fetcher interface {
	Fetch(batch int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error)
	Info(ctx context.Context) (*jetstream.ConsumerInfo, error)
}

// step fetches one batch and applies it; on an empty fetch it records how
// far the model is known to reach. It returns how many events it applied.
func (r *Runner) step(ctx context.Context, p Projection, cons fetcher, stream jetstream.Stream, t *target) (int, error) {
	batch, err := cons.Fetch(r.opts.BatchSize, jetstream.FetchMaxWait(r.opts.FetchWait))
	if err != nil {
		return 0, err
	}
	var events []streams.Recorded
	var lastMsg jetstream.Msg
	for msg := range batch.Messages() {
		lastMsg = msg
		meta, err := msg.Metadata()
		if err != nil {
			return 0, err
		}
		seq := streams.Sequence(meta.Sequence.Stream)
		if seq <= t.checkpoint {
			continue // applied before: a redelivery
		}
		ev, err := streams.Decode(msg.Subject(), seq, msg.Headers(), msg.Data())
		if err != nil {
			return 0, &ApplyError{Projection: p.Name, Event: streams.Recorded{Sequence: seq, Type: msg.Headers().Get(streams.HeaderType)}, Err: err}
		}
		events = append(events, ev)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
		return 0, err
	}
	if len(events) > 0 {
		if err := r.applyWithRetries(ctx, p, t, events); err != nil {
			return 0, err
		}
	}
	if lastMsg != nil {
		if err := lastMsg.Ack(); err != nil {
			r.log.Debug("ack failed; the batch will be redelivered and skipped", "projection", p.Name, "error", err)
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
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, err
	}
	if info.NumPending == 0 && info.NumAckPending == 0 && streams.Sequence(last) > t.reached {
		if err := r.commit(ctx, p, t, nil, streams.Sequence(last)); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// applyWithRetries commits events; an event the handler refuses is retried
// alone with backoff, then reported as an *ApplyError.
func (r *Runner) applyWithRetries(ctx context.Context, p Projection, t *target, events []streams.Recorded) error {
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
			continue
		}
		for attempt := 1; ; attempt++ {
			if attempt > r.opts.MaxRetries {
				return &ApplyError{Projection: p.Name, Event: events[0], Err: bad.err}
			}
			r.log.Warn("projection handler failed; retrying", "projection", p.Name, "sequence", events[0].Sequence, "attempt", attempt, "error", bad.err)
			sleep(ctx, r.opts.RetryBackoff*time.Duration(1<<min(attempt-1, 6)))
			if err := ctx.Err(); err != nil {
				return err
			}
			err = r.commit(ctx, p, t, events[:1], 0)
			if !errors.As(err, &bad) {
				if err != nil {
					return err
				}
				break
			}
		}
		events = events[1:]
	}
	return nil
}

type badEvent struct {
	index int
	err   error
}

func (b *badEvent) Error() string { return fmt.Sprintf("event %d: %v", b.index, b.err) }

// commit applies events (and moves reached to at least reach) in one
// MULTI/EXEC, fenced by WATCH: the checkpoint must still be what the runner
// believes, the generation must still be current and, for a live runner, the
// lease must still be its own.
func (r *Runner) commit(ctx context.Context, p Projection, t *target, events []streams.Recorded, reach streams.Sequence) error {
	cpKey, reachedKey := t.keys.Checkpoint(t.gen), t.keys.Reached(t.gen)
	watched := []string{cpKey, t.keys.Generation()}
	if t.lease != "" {
		watched = append(watched, t.keys.Lease())
	}
	next := t.checkpoint
	if len(events) > 0 {
		next = events[len(events)-1].Sequence
	}
	reached := max(t.reached, next, reach)
	err := r.rdb.Watch(ctx, func(tx *redis.Tx) error {
		cp, err := tx.Get(ctx, cpKey).Uint64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		if streams.Sequence(cp) != t.checkpoint {
			return fmt.Errorf("%w: checkpoint is %d, runner had %d", errRestart, cp, t.checkpoint)
		}
		if t.lease != "" {
			g, err := tx.Get(ctx, t.keys.Generation()).Int64()
			if err != nil || g != t.gen {
				return fmt.Errorf("%w: generation switched", errRestart)
			}
			if holder, err := tx.Get(ctx, t.keys.Lease()).Result(); err != nil || holder != t.lease {
				return fmt.Errorf("%w: lease lost", errRestart)
			}
		}
		prefix := t.keys.Gen(t.gen)
		_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			for i, ev := range events {
				if err := p.Apply(pipe, prefix, ev); err != nil {
					return &badEvent{index: i, err: err}
				}
			}
			pipe.Set(ctx, cpKey, uint64(next), 0)
			pipe.Set(ctx, reachedKey, uint64(reached), 0)
			return nil
		})
		return err
	}, watched...)
	if errors.Is(err, redis.TxFailedErr) {
		return fmt.Errorf("%w: another writer touched the projection", errRestart)
	}
	if err != nil {
		return err
	}
	t.checkpoint, t.reached = next, reached
	r.metrics.applied.WithLabelValues(p.Name).Add(float64(len(events)))
	return nil
}

// consumer (re)creates the projection's durable consumer so that it delivers
// from just after the checkpoint kept in Redis.
func (r *Runner) consumer(ctx context.Context, p Projection, cp streams.Sequence) (jetstream.Consumer, error) {
	name := consumerPrefix + p.Name
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if err := r.js.DeleteConsumer(cctx, r.opts.Stream, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("reset consumer %s: %w", name, err)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:        name,
		Description:    "jetsource projection " + p.Name,
		FilterSubjects: p.Subjects,
		AckPolicy:      jetstream.AckAllPolicy,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		MaxAckPending:  -1,
	}
	if cp > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = uint64(cp) + 1
	}
	cons, err := r.js.CreateConsumer(cctx, r.opts.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", name, err)
	}
	return cons, nil
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
