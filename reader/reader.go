package reader

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/jetsource/jetsource/internal/microsvc"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/tracing"
)

// Defaults of the reader's settings.
const (
	ServiceName    = "jetsource-reader"
	ServiceVersion = "0.1.0"
	DefaultWait    = 2 * time.Second
	MaxWait        = 30 * time.Second
	// DefaultLimit and MaxLimit bound list queries.
	DefaultLimit = 50
	MaxLimit     = 1000
	// DefaultPollInterval is how often the queries waiting on a projection check
	// how far it has reached (one check for all of them).
	DefaultPollInterval = 5 * time.Millisecond
	// DefaultMaxWaits is the most queries waiting for one model at once.
	DefaultMaxWaits = 100
	// maxInFlight bounds the queries answered at once.
	maxInFlight = 256
	// DefaultReadTimeout bounds one query's reads of Redis.
	DefaultReadTimeout = 5 * time.Second
)

// Options configure a Reader.
type Options struct {
	DefaultWait time.Duration
	MaxWait     time.Duration
	// ReadTimeout bounds the reads of one query, after its wait: a query
	// in flight when the reader stops is answered within wait_ms plus it.
	ReadTimeout time.Duration
	// MaxWaits is the most queries that wait for a min_sequence of one
	// model at once; more answer 503 unavailable at once.
	MaxWaits int
	// LastSequence, when set, returns the last sequence of the event stream:
	// a min_sequence beyond it answers 503 stale at once instead of waiting
	// for a sequence that does not exist yet.
	LastSequence func(ctx context.Context) (uint64, error)
	// Streams, in a deployment of several event streams, maps each
	// projection to the stream it follows. min_sequence is then a position
	// "<stream>:<sequence>" (a number is refused: it names no stream), a
	// query waits only for its projections of that stream, and replies
	// carry "position" beside "sequence". Nil: one stream, as before.
	Streams map[string]string
	// LastSequenceIn, with Streams, returns the last sequence of one
	// stream (LastSequence's role in a deployment of several streams).
	LastSequenceIn func(ctx context.Context, stream string) (uint64, error)
	// Deployment names the deployment the reader belongs to: its service is
	// jetsource-reader-<deployment> (jetsource-reader when empty).
	Deployment string
	// PollInterval is how often the position of a projection that queries
	// wait for is read (one poll per projection, whatever the waiters).
	PollInterval time.Duration
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
	// TracerProvider makes the queries' spans; nil means the global one.
	TracerProvider trace.TracerProvider
}

// Reader answers queries.
type Reader struct {
	nc      *nats.Conn
	rdb     redis.UniversalClient
	opts    Options
	log     *slog.Logger
	latency *prometheus.HistogramVec
	// reads bounds the queries answered at once; a query gives its slot
	// back while it waits for a min_sequence.
	reads   chan struct{}
	waiting *waiting
	queries []Query
	// behind maps a model to the projections its queries depend on.
	behind map[string][]string
	views  *projections.Views
	limits envelopeLimits
	tracer trace.Tracer
}

// New returns a reader; register its queries, then Serve.
func New(nc *nats.Conn, rdb redis.UniversalClient, options ...Option) *Reader {
	var opts Options
	for _, o := range options {
		o(&opts)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.DefaultWait <= 0 {
		opts.DefaultWait = DefaultWait
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = MaxWait
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.MaxWaits <= 0 {
		opts.MaxWaits = DefaultMaxWaits
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Reader{nc: nc, rdb: rdb, opts: opts, log: opts.Logger,
		reads: make(chan struct{}, maxInFlight), waiting: newWaiting(rdb, opts),
		behind: map[string][]string{}, views: projections.NewViews(rdb), limits: envelopeLimits{opts.DefaultWait, opts.MaxWait},
		tracer: tracing.Tracer(opts.TracerProvider),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jetsource_reader_query_seconds",
			Help: "Query latency by model, query and outcome.", Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)},
			[]string{"model", "query", "outcome"})}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(append(r.waiting.collectors(), r.latency)...)
	}
	return r
}

// panicError is a panic of a query's Read, with the stack it was raised on.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("query panicked: %v", e.value) }

// recovered makes a panic of read an error of its request: 500 internal,
// logged with its stack, and the reader keeps serving.
func recovered(read func(context.Context, *projections.View, Params) (any, error)) func(context.Context, *projections.View, Params) (any, error) {
	return func(ctx context.Context, v *projections.View, p Params) (data any, err error) {
		defer func() {
			if rv := recover(); rv != nil {
				err = &panicError{value: rv, stack: debug.Stack()}
			}
		}()
		return read(ctx, v, p)
	}
}

// Register adds queries to what the reader serves. Register before Serve.
func (r *Reader) Register(queries ...Query) error {
	for _, q := range queries {
		if err := q.validate(); err != nil {
			return err
		}
		for _, have := range r.queries {
			if have.Model == q.Model && have.Name == q.Name {
				return fmt.Errorf("reader: query %s registered twice", q.Subject())
			}
		}
		if r.opts.Streams != nil {
			for _, name := range q.projectionsBehind() {
				if _, ok := r.opts.Streams[name]; !ok {
					return fmt.Errorf("reader: query %s: projection %s follows none of the deployment's event streams", q.Subject(), name)
				}
			}
		}
		q.Read = recovered(q.Read)
		r.queries = append(r.queries, q)
		for _, name := range q.projectionsBehind() {
			if !slices.Contains(r.behind[q.Model], name) {
				r.behind[q.Model] = append(r.behind[q.Model], name)
			}
		}
	}
	return nil
}

// Projections lists, once each, the projections behind the registered
// queries (a readiness check watches how far behind they are).
func (r *Reader) Projections() []string {
	var names []string
	for _, ps := range r.behind {
		for _, p := range ps {
			if !slices.Contains(names, p) {
				names = append(names, p)
			}
		}
	}
	slices.Sort(names)
	return names
}

// Envelope is the part of every query request the reader itself reads.
type Envelope struct {
	MinSequence uint64
	// MinStream is the stream of a min_sequence given as a position
	// "<stream>:<sequence>" ("" for a number).
	MinStream string
	Wait      time.Duration
	Params    json.RawMessage
}

// DecodeEnvelope splits a query request into min_sequence, wait_ms and the
// query's own parameters (everything else).
func DecodeEnvelope(body []byte, defaultWait, maxWait time.Duration) (Envelope, error) {
	parser := parsers.Get()
	defer parsers.Put(parser)
	obj, err := parseObject(parser, body)
	if err != nil {
		return Envelope{}, err
	}
	env, err := readEnvelope(obj, envelopeLimits{defaultWait, maxWait})
	if err != nil {
		return Envelope{}, err
	}
	for _, key := range []string{"min_sequence", "wait_ms"} {
		for obj.Get(key) != nil { // every copy of a repeated key
			obj.Del(key)
		}
	}
	env.Params = obj.MarshalTo(nil)
	return env, nil
}

// queryError is an error reply.
type queryError struct {
	status  int
	code    string
	message string
}

func (e *queryError) Error() string { return e.code + ": " + e.message }

func badRequest(format string, args ...any) *queryError {
	return &queryError{http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...)}
}

// Serve serves the queries until ctx is done, then drains: the service stops
// taking requests, and every query already received is answered within its
// own deadline (its wait_ms plus ReadTimeout), not cut short by ctx. Serve
// returns once they all are.
func (r *Reader) Serve(ctx context.Context) error {
	name := ServiceName
	if r.opts.Deployment != "" {
		name += "-" + r.opts.Deployment
	}
	// microsvc, not micro: queries are answered on their own goroutines,
	// after the handler returned, and the stats count each when it is
	// answered, with its whole handling and its error replies.
	svc, err := microsvc.AddService(r.nc, microsvc.Config{Name: name, Version: ServiceVersion,
		Description: "jetsource query side: query.<model>.<name>"})
	if err != nil {
		return fmt.Errorf("reader: %w", err)
	}
	var (
		// inFlight counts the queries taken; once it is stopped, a
		// request handed over later is answered 503.
		inFlight = newAdmission()
	)
	if len(r.queries) == 0 {
		_ = svc.Stop()
		return errors.New("reader: no query registered")
	}
	detached := context.WithoutCancel(ctx)
	for _, q := range r.queries {
		model, name, subject := q.Model, q.Name, q.Subject()
		ok := r.latency.WithLabelValues(model, name, "ok")
		{
			handler := func(req *microsvc.Request) {
				if !inFlight.enter() {
					r.answerError(req, model, name, errStopping)
					return
				}
				r.reads <- struct{}{}
				// Each query is answered on its own goroutine, bounded by
				// reads (waits are bounded per model).
				go func() {
					defer inFlight.leave()
					defer func() { <-r.reads }()
					r.answer(detached, req, model, name, subject, q, ok)
				}()
			}
			if err := svc.AddEndpoint(model+"_"+name, handler, microsvc.WithSubject(q.Subject())); err != nil {
				_ = svc.Stop()
				return fmt.Errorf("reader: %w", err)
			}
		}
	}
	r.log.Info("reader serving")
	<-ctx.Done()

	r.log.Info("reader draining")
	start := time.Now()
	// Stop drains the endpoint subscriptions: the server stops sending and
	// the requests already received still reach the handlers (Drained).
	// ReadTimeout bounds the wait; a request handed over after it is
	// answered 503.
	err = svc.Stop()
	if !svc.AwaitDrained(r.opts.ReadTimeout) {
		r.log.Warn("reader endpoints not drained within the read timeout", "timeout", r.opts.ReadTimeout)
	}
	inFlight.stopAndWait()
	r.waiting.pollers.Wait()
	_ = r.nc.FlushTimeout(r.opts.ReadTimeout)
	r.log.Info("reader stopped", "drain", time.Since(start))
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return err
	}
	return nil
}

// admission counts the queries in flight without a lock on their way, and
// stops taking more: a query enters before it is answered and leaves once
// it is, and stopAndWait refuses every later one and waits for those in.
type admission struct {
	// state is admissionStopped once stopped, plus the queries in flight.
	state atomic.Int64
	// left wakes stopAndWait when the last query in flight left.
	left chan struct{}
}

const admissionStopped = 1 << 62

func newAdmission() *admission { return &admission{left: make(chan struct{}, 1)} }

// enter takes a query, unless the reader stopped taking them.
func (a *admission) enter() bool {
	if a.state.Add(1)&admissionStopped != 0 {
		a.leave()
		return false
	}
	return true
}

func (a *admission) leave() {
	if a.state.Add(-1) == admissionStopped {
		select {
		case a.left <- struct{}{}:
		default:
		}
	}
}

// stopAndWait stops taking queries and waits for those taken.
func (a *admission) stopAndWait() {
	a.state.Add(admissionStopped)
	for a.state.Load() != admissionStopped {
		<-a.left
	}
}

// answer answers one query. The query runs with its own deadline, detached
// from the service's ctx (detached), so that a reader that stops still
// answers it.
func (r *Reader) answer(detached context.Context, req *microsvc.Request, model, name, subject string, q Query, ok prometheus.Observer) {
	// The query's span continues the trace of the request's traceparent.
	ctx, span := r.tracer.Start(tracing.Extract(detached, req.Header()), subject, querySpan...)
	env, params, err := decodeRequest(req.Data(), q.Params, &r.limits)
	if err != nil {
		endSpan(span, r.answerError(req, model, name, err), err)
		return
	}
	qctx, cancel := context.WithTimeout(ctx, env.Wait+r.opts.ReadTimeout)
	defer cancel()
	data, cp, err := r.run(qctx, env, q, params)
	if err != nil {
		endSpan(span, r.answerError(req, model, name, err), err)
		return
	}
	buf := replyBuffers.Get().(*bytes.Buffer)
	defer replyBuffers.Put(buf)
	var position string
	if r.opts.Streams != nil {
		position = r.opts.Streams[q.Projection]
	}
	if err := encodeReply(buf, data, cp, position); err != nil {
		err = fmt.Errorf("reply not encoded: %w", err)
		endSpan(span, r.answerError(req, model, name, err), err)
		return
	}
	// Counted before the reply goes out, so that a client that got its
	// reply finds it in the metrics, as in the stats.
	ok.Observe(time.Since(req.Start()).Seconds())
	if err := req.Respond(buf.Bytes()); err != nil {
		r.log.Warn("reply not sent", "error", err)
	}
	endSpan(span, nil, nil)
}

// replyBuffers hold the replies being encoded (a publish copies its data).
var replyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// encodeReply writes {"data": data, "sequence": cp} into buf, and the position
// "<stream>:<cp>" when stream is set (a deployment of several streams).
func encodeReply(buf *bytes.Buffer, data any, cp uint64, stream string) error {
	buf.Reset()
	buf.WriteString(`{"data":`)
	if err := json.NewEncoder(buf).Encode(data); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1) // Encode's newline
	buf.WriteString(`,"sequence":`)
	buf.Write(strconv.AppendUint(buf.AvailableBuffer(), cp, 10))
	if stream != "" {
		buf.WriteString(`,"position":`)
		pos, _ := json.Marshal(streams.FormatPosition(stream, streams.Sequence(cp)))
		buf.Write(pos)
	}
	buf.WriteByte('}')
	return nil
}

// querySpan starts the span of every query: it serves a request.
var querySpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

// endSpan records a query's outcome (qe nil: ok) on its span and ends it. A
// refusal of the query (4xx) is an outcome; a failure to answer it (5xx)
// sets the error status.
func endSpan(span trace.Span, qe *queryError, err error) {
	if span.IsRecording() {
		outcome := "ok"
		if qe != nil {
			outcome = qe.code
			if qe.status >= http.StatusInternalServerError {
				span.SetStatus(codes.Error, err.Error())
			}
		}
		span.SetAttributes(attribute.String("jetsource.outcome", outcome))
	}
	span.End()
}

// answerError answers err as an error reply (micro's error headers and the
// contract's body), and returns the answer.
func (r *Reader) answerError(req *microsvc.Request, model, name string, err error) *queryError {
	qe := r.classify(err, model)
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": qe.code, "message": qe.message}})
	r.latency.WithLabelValues(model, name, qe.code).Observe(time.Since(req.Start()).Seconds())
	if err := req.Error(strconv.Itoa(qe.status), qe.message, body); err != nil {
		r.log.Warn("error reply not sent", "error", err)
	}
	return qe
}

var (
	errStale    = errors.New("stale")
	errStopping = &queryError{http.StatusServiceUnavailable, "unavailable", "the reader is stopping; try again"}
	// errInternal answers a bug: the reply says little, the log says all.
	errInternal = &queryError{http.StatusInternalServerError, "internal", "internal error; it has been logged"}
)

func (r *Reader) run(ctx context.Context, env Envelope, q Query, params Params) (any, uint64, error) {
	behind, err := r.behindPosition(q, env)
	if err != nil {
		return nil, 0, err
	}
	if env.MinSequence > 0 && len(behind) > 0 {
		if behind, err = r.partitionsBehind(ctx, q, params, behind); err != nil {
			return nil, 0, err
		}
		if err := r.waitFor(ctx, q.Model, behind, env.MinStream, env.MinSequence, env.Wait); err != nil {
			return nil, 0, err
		}
	}
	return r.runQuery(ctx, q, params)
}

// behindPosition lists the projections of q a wait for env's min_sequence
// waits for: all of them in a deployment of one stream; in one of several,
// those that follow the position's stream (none: the position is reached at
// once, the answer depends on no event of that stream).
func (r *Reader) behindPosition(q Query, env Envelope) ([]string, error) {
	if r.opts.Streams == nil {
		return q.projectionsBehind(), nil
	}
	if env.MinStream == "" {
		if env.MinSequence == 0 {
			return nil, nil
		}
		return nil, badRequest("min_sequence: this deployment stores its events in several streams, so a bare sequence names no stream; " +
			"pass the position \"<stream>:<sequence>\" of a command or query reply")
	}
	var behind []string
	for _, name := range q.projectionsBehind() {
		if r.opts.Streams[name] == env.MinStream {
			behind = append(behind, name)
		}
	}
	return behind, nil
}

func (r *Reader) classify(err error, model string) *queryError {
	var (
		qe *queryError
		pe *panicError
	)
	switch {
	case errors.As(err, &qe):
		return qe
	case errors.As(err, &pe):
		r.log.Error("query panicked", "model", model, "panic", fmt.Sprint(pe.value), "stack", string(pe.stack))
		return errInternal
	case errors.Is(err, projections.ErrNotFound):
		return &queryError{http.StatusNotFound, "not_found", err.Error()}
	case errors.Is(err, errStale):
		msg := err.Error()
		for _, name := range r.behind[model] {
			if s, serr := projections.Status(context.Background(), r.rdb, name); serr == nil && s["state"] == "failed" {
				msg += fmt.Sprintf("; projection %s stopped at sequence %s: %s", name, s["sequence"], s["error"])
			}
		}
		return &queryError{http.StatusServiceUnavailable, "stale", msg}
	case errors.Is(err, redis.ErrClosed), isNetErr(err), errors.Is(err, context.DeadlineExceeded):
		return &queryError{http.StatusServiceUnavailable, "unavailable", "the read models cannot be reached"}
	}
	r.log.Error("query failed", "model", model, "error", err)
	return errInternal
}

func isNetErr(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne)
}
