package writer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetsource/jetsource/streams"
)

// Defaults of the writer's settings.
const (
	ServiceName        = "jetsource-writer"
	ServiceVersion     = "0.1.0"
	DefaultQueueGroup  = "jetsource-writer"
	DefaultWorkers     = 64
	DefaultMaxRetries  = 10
	DefaultTimeout     = 5 * time.Second
	DefaultCommandsTTL = 7 * 24 * time.Hour
	CommandsBucket     = "COMMANDS"
	UniqueBucket       = "UNIQUE"
	// queueDepth is each worker's queue: beyond it the handler waits
	// (back-pressure) rather than buffering without bound.
	queueDepth = 64
	// cacheSize bounds each worker's cache of aggregates.
	cacheSize = 1024
	// retryBase and retryMax shape the jittered backoff between conflict
	// retries.
	retryBase = 2 * time.Millisecond
	retryMax  = 100 * time.Millisecond
	// drainQuiet is how long the handler must stay idle, after the service
	// stopped taking requests, before the queues are closed: requests the
	// client library had already received are handed over in that time.
	drainQuiet = 100 * time.Millisecond
)

// Options configure a Writer.
type Options struct {
	QueueGroup  string
	Workers     int
	MaxRetries  int
	Timeout     time.Duration
	CommandsTTL time.Duration
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
}

// Option changes one setting.
type Option func(*Options)

// WithQueueGroup sets the queue group the endpoints share.
func WithQueueGroup(q string) Option { return func(o *Options) { o.QueueGroup = q } }

// WithWorkers sets the number of workers.
func WithWorkers(n int) Option { return func(o *Options) { o.Workers = n } }

// WithMaxRetries sets how often a command is retried on conflicts.
func WithMaxRetries(n int) Option { return func(o *Options) { o.MaxRetries = n } }

// WithTimeout bounds the handling of one command.
func WithTimeout(d time.Duration) Option { return func(o *Options) { o.Timeout = d } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// WithMetrics registers the writer's Prometheus metrics on r.
func WithMetrics(r prometheus.Registerer) Option { return func(o *Options) { o.Registerer = r } }

// Writer serves commands.
type Writer struct {
	nc       *nats.Conn
	store    *streams.Store
	opts     Options
	log      *slog.Logger
	routes   map[string]route
	commands jetstream.KeyValue
	unique   jetstream.KeyValue
	metrics  *metrics
}

// route is one aggregate type, with its state type erased.
type route interface {
	commandNames() []string
	// execute runs one command on one worker; cache is that worker's.
	execute(ctx context.Context, w *Writer, cache *aggCache, command string, req Request) (Reply, error)
}

// New returns a writer on nc and store; Register aggregates, then Serve.
func New(ctx context.Context, nc *nats.Conn, store *streams.Store, opts ...Option) (*Writer, error) {
	o := Options{QueueGroup: DefaultQueueGroup, Workers: DefaultWorkers, MaxRetries: DefaultMaxRetries,
		Timeout: DefaultTimeout, CommandsTTL: DefaultCommandsTTL, Logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.Workers < 1 || o.MaxRetries < 0 || o.Timeout <= 0 {
		return nil, fmt.Errorf("writer: workers %d, max retries %d, timeout %v: all must be positive", o.Workers, o.MaxRetries, o.Timeout)
	}
	js := store.JetStream()
	commands, err := keyValue(ctx, js, jetstream.KeyValueConfig{Bucket: CommandsBucket, Description: "jetsource: command_id -> first reply",
		History: 1, TTL: o.CommandsTTL, Storage: jetstream.FileStorage})
	if err != nil {
		return nil, err
	}
	unique, err := keyValue(ctx, js, jetstream.KeyValueConfig{Bucket: UniqueBucket, Description: "jetsource: unique keys -> aggregate id",
		History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		return nil, err
	}
	w := &Writer{nc: nc, store: store, opts: o, log: o.Logger, routes: map[string]route{},
		commands: commands, unique: unique, metrics: newMetrics(o.Registerer)}
	return w, nil
}

func keyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("writer: bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// job is one request on its way to a worker.
type job struct {
	req     micro.Request
	route   route
	typ     string
	command string
	request Request
	start   time.Time
}

// Serve serves the registered commands until ctx is done, then drains: it
// stops taking requests, finishes and answers those it took, and returns.
func (w *Writer) Serve(ctx context.Context) error {
	if len(w.routes) == 0 {
		return errors.New("writer: no aggregate registered")
	}
	queues := make([]chan job, w.opts.Workers)
	var workers sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan job, queueDepth)
		workers.Add(1)
		go func() {
			defer workers.Done()
			w.work(queues[i])
		}()
	}
	var lastHandled sync.Mutex
	last := time.Now()
	// enqueue guards the queues: handlers hold it for reading while they
	// hand a job over, Serve takes it to close them, so no job is ever sent
	// on a closed queue. A request that arrives after that is answered 503.
	var enqueue sync.RWMutex
	closing := false
	svc, err := micro.AddService(w.nc, micro.Config{
		Name: ServiceName, Version: ServiceVersion, QueueGroup: w.opts.QueueGroup,
		Description: "jetsource command side: cmd.<type>.<command>",
	})
	if err != nil {
		for _, q := range queues {
			close(q)
		}
		workers.Wait()
		return fmt.Errorf("writer: %w", err)
	}
	for typ, rt := range w.routes {
		group := svc.AddGroup("cmd." + typ)
		for _, command := range rt.commandNames() {
			handler := micro.HandlerFunc(func(req micro.Request) {
				lastHandled.Lock()
				last = time.Now()
				lastHandled.Unlock()
				start := time.Now()
				r, err := DecodeRequest(req.Data())
				if err != nil {
					w.respondError(req, typ, command, start, err)
					return
				}
				enqueue.RLock()
				defer enqueue.RUnlock()
				if closing {
					w.respondError(req, typ, command, start, errShuttingDown)
					return
				}
				queues[shard(typ, r.AggregateID, len(queues))] <- job{req: req, route: rt, typ: typ, command: command, request: r, start: start}
			})
			if err := group.AddEndpoint(typ+"_"+command, handler, micro.WithEndpointSubject(command)); err != nil {
				_ = svc.Stop()
				return fmt.Errorf("writer: endpoint cmd.%s.%s: %w", typ, command, err)
			}
		}
	}
	w.log.Info("writer serving", "aggregates", len(w.routes), "workers", w.opts.Workers, "queue_group", w.opts.QueueGroup)
	<-ctx.Done()

	w.log.Info("writer draining")
	stopErr := svc.Stop()
	// The unsubscribe has reached the server once a flush returns; then the
	// handler gets what was already delivered, and goes quiet.
	_ = w.nc.FlushTimeout(w.opts.Timeout)
	for {
		lastHandled.Lock()
		idle := time.Since(last)
		lastHandled.Unlock()
		if idle >= drainQuiet {
			break
		}
		time.Sleep(drainQuiet - idle)
	}
	enqueue.Lock()
	closing = true
	for _, q := range queues {
		close(q)
	}
	enqueue.Unlock()
	workers.Wait()
	w.log.Info("writer stopped")
	if stopErr != nil && !errors.Is(stopErr, nats.ErrConnectionClosed) {
		return fmt.Errorf("writer: stop: %w", stopErr)
	}
	return nil
}

// shard picks the worker of an aggregate.
func shard(typ, id string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(typ))
	h.Write([]byte{'/'})
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(n))
}

// work runs the jobs of one worker in order, with that worker's cache.
func (w *Writer) work(queue <-chan job) {
	cache := newAggCache(cacheSize)
	for j := range queue {
		// A command is finished even while the writer drains: its own
		// timeout bounds it, not the server's shutdown.
		ctx, cancel := context.WithTimeout(context.Background(), w.opts.Timeout)
		reply, err := w.handle(ctx, cache, j)
		cancel()
		if err != nil {
			w.respondError(j.req, j.typ, j.command, j.start, err)
			continue
		}
		body, err := json.Marshal(reply)
		if err == nil {
			err = w.respond(j.req, body, nil)
		}
		if err != nil {
			w.log.Warn("reply not sent", "command", j.typ+"."+j.command, "aggregate", j.request.AggregateID, "error", err)
		}
		w.metrics.observe(j.typ, j.command, "ok", time.Since(j.start))
		w.log.Debug("command", "command", j.typ+"."+j.command, "aggregate", j.request.AggregateID, "outcome", "ok", "duration", time.Since(j.start))
	}
}

func (w *Writer) respondError(req micro.Request, typ, command string, start time.Time, err error) {
	re, internal := classify(err)
	if internal {
		w.log.Error("command failed", "command", typ+"."+command, "error", err)
	} else {
		w.log.Debug("command refused", "command", typ+"."+command, "code", re.Code, "message", re.Message)
	}
	h := nats.Header{}
	h.Set(micro.ErrorCodeHeader, strconv.Itoa(re.Status))
	h.Set(micro.ErrorHeader, re.Message)
	if rerr := w.respond(req, errorBody(re), h); rerr != nil {
		w.log.Warn("error reply not sent", "command", typ+"."+command, "error", rerr)
	}
	w.metrics.observe(typ, command, re.Code, time.Since(start))
}

// respond publishes a reply to req directly on the connection. Workers
// answer long after the micro handler returned, and micro.Request's own
// Respond methods update the service's statistics unsynchronised, so they may
// only be called from the handler itself. The wire form is the same: micro's
// error headers and the body.
func (w *Writer) respond(req micro.Request, body []byte, h nats.Header) error {
	if req.Reply() == "" {
		return errors.New("request has no reply subject")
	}
	return w.nc.PublishMsg(&nats.Msg{Subject: req.Reply(), Header: h, Data: body})
}

// backoff sleeps before conflict retry attempt (1-based), with full jitter.
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
