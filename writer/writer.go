package writer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/jetsource/jetsource/internal/microsvc"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/tracing"
)

// Writer serves commands. Build it with New, add aggregates with Register,
// then run Serve.
type Writer struct {
	nc       *nats.Conn
	store    *streams.Store
	opts     Options
	log      *slog.Logger
	routes   map[string]route
	commands jetstream.KeyValue
	unique   jetstream.KeyValue
	metrics  *metrics
	serving  atomic.Bool
	tracer   trace.Tracer
}

// route is one aggregate type with its state type erased, so that one writer
// serves aggregates of different state types without reflection.
type route interface {
	commandNames() []string
	// execute decides and appends one command; cache is the calling
	// worker's own.
	execute(ctx context.Context, cache *aggCache, j *job) (Reply, error)
	// forgotten reports whether aggregate id was forgotten.
	forgotten(ctx context.Context, id string) (bool, error)
}

// New returns a writer that serves commands on nc and appends to store. It
// provisions the COMMANDS and UNIQUE buckets (idempotently).
//
// nc should be made with nats.ReconnectBufSize(-1): a publish while
// disconnected then fails at once, instead of being buffered and sent after
// reconnecting, behind the back of a request that was answered meanwhile.
func New(nc *nats.Conn, store *streams.Store, opts ...Option) (*Writer, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if o.StaleClaim == 0 {
		o.StaleClaim = o.maxCommandLife() + o.Timeout
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if life := o.maxCommandLife(); o.StaleClaim <= life || o.StaleReservation <= life {
		o.Logger.Warn("stale claim or stale reservation age is shorter than a command's longest life (max queue wait + 2 × timeout): "+
			"a writer paused that long and then woken may still append after its command or unique key was taken over",
			"stale_claim", o.StaleClaim, "stale_reservation", o.StaleReservation, "command_life", life)
	}
	if nc == nil || store == nil {
		return nil, errors.New("writer: nil NATS connection or store")
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	// The buckets follow the store's replicas: losing a node must lose no
	// idempotency record and no username reservation.
	commands, err := store.Bucket(ctx, jetstream.KeyValueConfig{
		Bucket:      Named(CommandsBucket, "_", o.Deployment),
		Description: "jetsource writer: command_id -> claim, then first outcome",
		History:     1,
		TTL:         o.CommandsTTL,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("writer: %w", err)
	}
	unique, err := store.Bucket(ctx, jetstream.KeyValueConfig{
		Bucket:      Named(UniqueBucket, "_", o.Deployment),
		Description: "jetsource writer: <type>.<key> -> aggregate id",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("writer: %w", err)
	}
	return &Writer{nc: nc, store: store, opts: o, log: o.Logger, routes: map[string]route{},
		commands: commands, unique: unique, metrics: m, tracer: tracing.Tracer(o.TracerProvider)}, nil
}

// endpoint is one command endpoint, cmd.<type>.<command>: what every
// command of it shares.
type endpoint struct {
	route   route
	typ     string
	command string
	metrics endpointMetrics
}

// job is one command on its way through a worker.
type job struct {
	*endpoint
	req     *microsvc.Request // answered once, by the worker or the handler
	request Request
	// key is the aggregate's "<type>.<id>": its worker and cache key.
	key   string
	start time.Time // req.Start(): the service's stats time from it too
	// ctx carries the command's span (see startSpan).
	ctx  context.Context
	span trace.Span
}

// Serve serves the registered commands until ctx is done, then drains: it
// stops taking requests, finishes and answers every command it took, and
// returns nil. It returns an error only when the service cannot start.
func (w *Writer) Serve(ctx context.Context) error {
	if len(w.routes) == 0 {
		return errors.New("writer: no aggregate registered")
	}
	if !w.serving.CompareAndSwap(false, true) {
		return errors.New("writer: Serve is already running")
	}
	defer w.serving.Store(false)

	queues := make([]chan *job, w.opts.Workers)
	var workers sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan *job, w.opts.QueueDepth)
		workers.Add(1)
		go func() {
			defer workers.Done()
			w.work(queues[i])
		}()
	}
	// gate guards the queues: a handler holds it for reading while it hands
	// a job over and Serve takes it to close them, so no job is ever sent on
	// a closed queue. A request handed over after that is answered 503.
	var gate sync.RWMutex
	closed := false
	closeQueues := func() {
		gate.Lock()
		closed = true
		for _, q := range queues {
			close(q)
		}
		gate.Unlock()
		workers.Wait()
	}

	// microsvc, not micro: commands are answered by the workers, after the
	// handler returned, and the stats count each when it is answered, with
	// its whole handling and its error replies.
	svc, err := microsvc.AddService(w.nc, microsvc.Config{
		Name:        Named(ServiceName, "-", w.opts.Deployment),
		Version:     ServiceVersion,
		QueueGroup:  w.opts.QueueGroup,
		Description: "jetsource command side: cmd.<type>.<command>",
		// A slow consumer: requests NATS dropped past the pending limits.
		ErrorHandler: func(subject string, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				w.metrics.slowConsumer.Inc()
			}
			w.log.Warn("writer endpoint error; requests may have been dropped", "subject", subject, "error", err)
		},
	})
	if err != nil {
		closeQueues()
		return fmt.Errorf("writer: start service: %w", err)
	}
	types := make([]string, 0, len(w.routes))
	for typ := range w.routes {
		types = append(types, typ)
	}
	slices.Sort(types)
	for _, typ := range types {
		rt := w.routes[typ]
		group := svc.AddGroup("cmd." + typ)
		for _, command := range rt.commandNames() {
			subject := "cmd." + typ + "." + command
			ep := &endpoint{route: rt, typ: typ, command: command, metrics: w.metrics.endpoint(typ, command)}
			handler := func(req *microsvc.Request) {
				start := req.Start()
				if !answerable(req.Reply()) {
					w.log.Warn("command not run: its reply subject is one the writer writes to", "subject", req.Subject(), "reply", req.Reply())
					w.finish(ep, "", outcomeNotAnswerable, start, nil)
					_ = req.Drop("not run: its reply subject is one the writer writes to")
					return
				}
				ctx, span := w.startSpan(subject, req.Header())
				r, err := decodeRequest(req.Data(), true)
				if err == nil {
					r.CorrelationID, r.CausationID, err = Correlation(req.Header())
				}
				if err != nil {
					re, _ := classify(err)
					w.finish(ep, "", re.Code, start, nil)
					if rerr := req.Error(strconv.Itoa(re.Status), re.Message, errorBody(re)); rerr != nil {
						w.log.Warn("error reply not sent", "command", typ+"."+command, "error", rerr)
					}
					endSpan(span, typ, command, "", re.Code, err)
					return
				}
				key := typ + "." + r.AggregateID
				j := &job{endpoint: ep, req: req, request: r, key: key, start: start, ctx: ctx, span: span}
				gate.RLock()
				defer gate.RUnlock()
				if closed {
					w.answerError(j, errShuttingDown)
					return
				}
				select {
				case queues[shard(key, len(queues))] <- j:
				default:
					w.answerError(j, errFull)
				}
			}
			if err := group.AddEndpoint(typ+"_"+command, handler, microsvc.WithSubject(command),
				microsvc.WithPendingLimits(w.opts.PendingMsgs, w.opts.PendingBytes)); err != nil {
				_ = svc.Stop()
				closeQueues()
				return fmt.Errorf("writer: endpoint cmd.%s.%s: %w", typ, command, err)
			}
		}
	}
	w.log.Info("writer serving", "aggregates", types, "workers", w.opts.Workers, "queue_group", w.opts.QueueGroup)
	<-ctx.Done()

	w.log.Info("writer draining")
	start := time.Now()
	// Stop drains the endpoint subscriptions: the server stops sending, the
	// messages already received are still handed to the handlers, then the
	// subscriptions go away (Drained). The command timeout bounds the wait;
	// a request handed over after it is answered 503.
	stopErr := svc.Stop()
	if !svc.AwaitDrained(w.opts.Timeout) {
		w.log.Warn("writer endpoints not drained within the command timeout", "timeout", w.opts.Timeout)
	}
	closeQueues()
	w.log.Info("writer stopped", "drain", time.Since(start))
	if stopErr != nil && !errors.Is(stopErr, nats.ErrConnectionClosed) {
		w.log.Warn("service stop", "error", stopErr)
	}
	return nil
}

// lastMoment is the latest instant at which anything of job j may reach the
// store: its time in the queue, its command time, and as long again to learn
// an unsure append's outcome. Every publish of the job carries a deadline no
// later than this (nats.go sends nothing once its context is done), and a
// claim or unique-key reservation is taken over only when older than it
// (StaleClaim, StaleReservation): the deadline is the fence that keeps a
// paused writer, woken after the takeover, from appending.
func (w *Writer) lastMoment(j *job) time.Time {
	return j.start.Add(w.opts.maxCommandLife())
}

// shard picks the worker of an aggregate by its key, "<type>.<id>", so that
// the commands of one aggregate run in order on one worker. It is FNV-1a
// (hash/fnv's New32a) over the key's bytes, without converting the key.
func shard(key string, n int) int {
	const offset32, prime32 = 2166136261, 16777619
	h := uint32(offset32)
	for i := range len(key) {
		h ^= uint32(key[i])
		h *= prime32
	}
	return int(h % uint32(n))
}

// work runs the jobs of one worker in order, with that worker's cache.
func (w *Writer) work(queue <-chan *job) {
	cache := newAggCache(w.opts.CacheSize)
	handle := recovering(w.handle)
	var body []byte
	for j := range queue {
		if time.Since(j.start) > w.opts.MaxQueueWait {
			w.answerError(j, errWaitedTooLong)
			continue
		}
		// A command taken is finished even while the writer drains: its own
		// timeout bounds it, not the caller's context.
		deadline := time.Now().Add(w.opts.Timeout)
		if last := w.lastMoment(j); last.Before(deadline) {
			deadline = last
		}
		ctx, cancel := context.WithDeadline(j.ctx, deadline)
		reply, err := handle(ctx, cache, j)
		cancel()
		switch {
		case errors.Is(err, errOutcomeUnknown):
			// Neither a success nor a 503 would be true: the client's
			// request times out, and a resend with the same command_id
			// is safe. The stats count it as an error.
			w.log.Error("command outcome unknown; not answered", "command", j.typ+"."+j.command,
				"aggregate", j.request.AggregateID, "error", err)
			w.finish(j.endpoint, j.request.AggregateID, outcomeUnknown, j.start, nil)
			endSpan(j.span, j.typ, j.command, j.request.AggregateID, outcomeUnknown, err)
			_ = j.req.Drop("outcome unknown; not answered")
		case err != nil:
			w.answerError(j, err)
		default:
			// The worker's buffer serves every reply: a reply is copied
			// into the connection's buffer when it is sent.
			body = reply.appendJSON(body[:0])
			// Counted before the reply goes out, so that a client that got
			// its reply sees it in the metrics.
			w.finish(j.endpoint, j.request.AggregateID, outcomeOK, j.start, nil)
			endSpan(j.span, j.typ, j.command, j.request.AggregateID, outcomeOK, nil)
			if perr := j.req.Respond(body); perr != nil {
				w.log.Warn("reply not sent", "command", j.typ+"."+j.command, "aggregate", j.request.AggregateID, "error", perr)
			}
		}
	}
}

// answerError sends the error reply of j. Bugs are logged with their details,
// and the reply says little.
func (w *Writer) answerError(j *job, err error) {
	re, internal := classify(err)
	var details error
	if internal {
		details = err
	}
	w.finish(j.endpoint, j.request.AggregateID, re.Code, j.start, details)
	endSpan(j.span, j.typ, j.command, j.request.AggregateID, re.Code, err)
	if rerr := j.req.Error(strconv.Itoa(re.Status), re.Message, errorBody(re)); rerr != nil {
		w.log.Warn("error reply not sent", "command", j.typ+"."+j.command, "aggregate", j.request.AggregateID, "error", rerr)
	}
}

// finish logs and counts one command of endpoint e. Command data is never
// logged: it may hold a password.
func (w *Writer) finish(e *endpoint, id, outcome string, start time.Time, internal error) {
	d := time.Since(start)
	w.metrics.observe(e, outcome, d)
	if internal == nil {
		// The attributes are built only for a record the logger takes:
		// most commands succeed, and debug is usually off.
		if w.log.Enabled(context.Background(), slog.LevelDebug) {
			w.log.Debug("command", finishAttrs(e, id, outcome, d)...)
		}
		return
	}
	if pe := (*PanicError)(nil); errors.As(internal, &pe) {
		w.log.Error("command panicked", append(finishAttrs(e, id, outcome, d), "error", internal, "stack", string(pe.Stack))...)
		return
	}
	w.log.Error("command failed", append(finishAttrs(e, id, outcome, d), "error", internal)...)
}

// finishAttrs are the attributes of a command's log record.
func finishAttrs(e *endpoint, id, outcome string, d time.Duration) []any {
	return []any{"command", e.typ + "." + e.command, "aggregate", id, "outcome", outcome, "duration", d}
}

// answerable reports whether a request's reply subject may be answered.
// The writer may publish events, key-value entries and JetStream requests:
// a client naming such a subject as its reply would have the writer write
// the reply there (a forged event that breaks its aggregate's history).
func answerable(reply string) bool {
	return !strings.HasPrefix(reply, streams.SubjectPrefix+".") && !strings.HasPrefix(reply, "$")
}

// backoff sleeps before conflict retry attempt (1-based), with full jitter,
// so that writers racing for one aggregate spread out.
func backoff(ctx context.Context, attempt int) error {
	d := min(retryBase<<min(attempt, 10), retryMax)
	t := time.NewTimer(time.Duration(rand.Int64N(int64(d)) + 1))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
