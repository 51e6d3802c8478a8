// Package reader is the query side's front: a NATS micro service,
// jetsource-reader, answering query.<model>.<name> from the Redis read
// models, never from the event store (DESIGN §3).
//
// A request holds the query's parameters plus, optionally, min_sequence and
// wait_ms: the reader then waits until the projections behind the model have
// reached that stream sequence (read-your-writes) and answers 503 stale if
// they have not within wait_ms. A reply is {"data": …, "sequence": <the
// checkpoint the answer reflects>}; errors are as the writer's: micro error
// headers and {"error": {"code", "message"}}.
//
// A projection that stopped on a poison event still answers from what it
// has; waits on a sequence past the poison end in 503 stale, whose message
// says the projection failed.
package reader

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/streams"
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
	// pollInterval is how often a read-your-writes wait checks Redis.
	pollInterval = 5 * time.Millisecond
	// maxInFlight bounds the queries answered at once.
	maxInFlight = 256
)

// Options configure a Reader.
type Options struct {
	DefaultWait time.Duration
	MaxWait     time.Duration
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
}

// Reader answers queries.
type Reader struct {
	nc      *nats.Conn
	rdb     redis.UniversalClient
	opts    Options
	log     *slog.Logger
	latency *prometheus.HistogramVec
}

// New returns a reader.
func New(nc *nats.Conn, rdb redis.UniversalClient, opts Options) *Reader {
	if opts.DefaultWait <= 0 {
		opts.DefaultWait = DefaultWait
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = MaxWait
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Reader{nc: nc, rdb: rdb, opts: opts, log: opts.Logger,
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jetsource_reader_query_seconds",
			Help: "Query latency by model, query and outcome.", Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)},
			[]string{"model", "query", "outcome"})}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(r.latency)
	}
	return r
}

// queryFunc answers one query from its raw parameters.
type queryFunc func(ctx context.Context, params json.RawMessage) (any, uint64, error)

func (r *Reader) queries() map[string]map[string]queryFunc {
	return map[string]map[string]queryFunc{
		"account": {
			"get": byID(func(ctx context.Context, id string) (any, uint64, error) {
				return projections.GetAccount(ctx, r.rdb, id)
			}),
			"list": func(ctx context.Context, raw json.RawMessage) (any, uint64, error) {
				var p struct {
					Limit *int   `json:"limit"`
					After string `json:"after"`
				}
				if err := decode(raw, &p); err != nil {
					return nil, 0, err
				}
				limit, err := limitOf(p.Limit)
				if err != nil {
					return nil, 0, err
				}
				if p.After != "" {
					if err := streams.ValidateID(p.After); err != nil {
						return nil, 0, badRequest("after: %v", err)
					}
				}
				return projections.ListAccounts(ctx, r.rdb, limit, p.After)
			},
		},
		"order": {
			"get": byID(func(ctx context.Context, id string) (any, uint64, error) { return projections.GetOrder(ctx, r.rdb, id) }),
		},
		"product": {
			"get": byID(func(ctx context.Context, id string) (any, uint64, error) {
				return projections.GetProduct(ctx, r.rdb, id)
			}),
			"low_stock": func(ctx context.Context, raw json.RawMessage) (any, uint64, error) {
				var p struct {
					Below *int64 `json:"below"`
					Limit *int   `json:"limit"`
				}
				if err := decode(raw, &p); err != nil {
					return nil, 0, err
				}
				if p.Below == nil {
					return nil, 0, badRequest("below is required")
				}
				limit, err := limitOf(p.Limit)
				if err != nil {
					return nil, 0, err
				}
				return projections.LowStock(ctx, r.rdb, *p.Below, limit)
			},
		},
		"user": {
			"get": func(ctx context.Context, raw json.RawMessage) (any, uint64, error) {
				var p struct {
					Username *string `json:"username"`
				}
				if err := decode(raw, &p); err != nil {
					return nil, 0, err
				}
				if p.Username == nil || *p.Username == "" || len(*p.Username) > 64 {
					return nil, 0, badRequest("username is required (at most 64 characters)")
				}
				return projections.GetUser(ctx, r.rdb, *p.Username)
			},
		},
	}
}

func byID(get func(ctx context.Context, id string) (any, uint64, error)) queryFunc {
	return func(ctx context.Context, raw json.RawMessage) (any, uint64, error) {
		var p struct {
			ID *string `json:"id"`
		}
		if err := decode(raw, &p); err != nil {
			return nil, 0, err
		}
		if p.ID == nil {
			return nil, 0, badRequest("id is required")
		}
		if err := streams.ValidateID(*p.ID); err != nil {
			return nil, 0, badRequest("%v", err)
		}
		return get(ctx, *p.ID)
	}
}

func limitOf(l *int) (int, error) {
	if l == nil {
		return DefaultLimit, nil
	}
	if *l < 1 || *l > MaxLimit {
		return 0, badRequest("limit must be between 1 and %d, got %d", MaxLimit, *l)
	}
	return *l, nil
}

// Envelope is the part of every query request the reader itself reads.
type Envelope struct {
	MinSequence uint64
	Wait        time.Duration
	Params      json.RawMessage
}

// DecodeEnvelope splits a query request into min_sequence, wait_ms and the
// query's own parameters (everything else).
func DecodeEnvelope(body []byte, defaultWait, maxWait time.Duration) (Envelope, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		trimmed = []byte("{}")
	}
	if trimmed[0] != '{' {
		return Envelope{}, badRequest("query parameters must be a JSON object")
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&fields); err != nil {
		return Envelope{}, badRequest("malformed query: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Envelope{}, badRequest("unexpected content after the JSON object")
	}
	env := Envelope{Wait: defaultWait}
	if raw, ok := fields["min_sequence"]; ok {
		v, err := strconv.ParseUint(string(raw), 10, 64)
		if err != nil {
			return Envelope{}, badRequest("min_sequence must be a non-negative integer")
		}
		env.MinSequence = v
		delete(fields, "min_sequence")
	}
	if raw, ok := fields["wait_ms"]; ok {
		v, err := strconv.ParseUint(string(raw), 10, 64)
		if err != nil || time.Duration(v)*time.Millisecond > maxWait {
			return Envelope{}, badRequest("wait_ms must be an integer from 0 to %d", maxWait.Milliseconds())
		}
		env.Wait = time.Duration(v) * time.Millisecond
		delete(fields, "wait_ms")
	}
	env.Params, _ = json.Marshal(fields)
	return env, nil
}

// decode strictly decodes query parameters.
func decode(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badRequest("parameter %q has the wrong type (got JSON %s)", te.Field, te.Value)
		}
		return badRequest("bad parameters: %v", err)
	}
	return nil
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

// Serve serves the queries until ctx is done, then drains.
func (r *Reader) Serve(ctx context.Context) error {
	svc, err := micro.AddService(r.nc, micro.Config{Name: ServiceName, Version: ServiceVersion,
		Description: "jetsource query side: query.<model>.<name>"})
	if err != nil {
		return fmt.Errorf("reader: %w", err)
	}
	sem := make(chan struct{}, maxInFlight)
	for model, qs := range r.queries() {
		group := svc.AddGroup("query." + model)
		for name, q := range qs {
			handler := micro.HandlerFunc(func(req micro.Request) {
				sem <- struct{}{}
				// Waits for min_sequence must not hold up other queries:
				// each is answered on its own goroutine, bounded by sem.
				go func() {
					defer func() { <-sem }()
					r.answer(ctx, req, model, name, q)
				}()
			})
			if err := group.AddEndpoint(model+"_"+name, handler, micro.WithEndpointSubject(name)); err != nil {
				_ = svc.Stop()
				return fmt.Errorf("reader: %w", err)
			}
		}
	}
	r.log.Info("reader serving")
	<-ctx.Done()
	err = svc.Stop()
	_ = r.nc.FlushTimeout(time.Second)
	// Wait for the queries in flight.
	for range maxInFlight {
		sem <- struct{}{}
	}
	r.log.Info("reader stopped")
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return err
	}
	return nil
}

func (r *Reader) answer(ctx context.Context, req micro.Request, model, name string, q queryFunc) {
	start := time.Now()
	data, cp, err := r.run(ctx, req.Data(), model, q)
	outcome := "ok"
	if err != nil {
		qe := r.classify(err, model)
		outcome = qe.code
		h := nats.Header{}
		h.Set(micro.ErrorCodeHeader, strconv.Itoa(qe.status))
		h.Set(micro.ErrorHeader, qe.message)
		body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": qe.code, "message": qe.message}})
		r.respond(req, body, h)
	} else {
		body, err := json.Marshal(map[string]any{"data": data, "sequence": cp})
		if err != nil {
			r.log.Error("reply not encoded", "query", model+"."+name, "error", err)
			return
		}
		r.respond(req, body, nil)
	}
	r.latency.WithLabelValues(model, name, outcome).Observe(time.Since(start).Seconds())
}

// respond publishes the reply directly: micro.Request's methods may only be
// used from the handler goroutine (they update the service's statistics).
func (r *Reader) respond(req micro.Request, body []byte, h nats.Header) {
	if err := r.nc.PublishMsg(&nats.Msg{Subject: req.Reply(), Header: h, Data: body}); err != nil {
		r.log.Warn("reply not sent", "error", err)
	}
}

var errStale = errors.New("stale")

func (r *Reader) run(ctx context.Context, body []byte, model string, q queryFunc) (any, uint64, error) {
	env, err := DecodeEnvelope(body, r.opts.DefaultWait, r.opts.MaxWait)
	if err != nil {
		return nil, 0, err
	}
	if env.MinSequence > 0 {
		if err := r.waitFor(ctx, model, env.MinSequence, env.Wait); err != nil {
			return nil, 0, err
		}
	}
	return q(ctx, env.Params)
}

// waitFor waits until every projection behind model reached seq.
func (r *Reader) waitFor(ctx context.Context, model string, seq uint64, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for _, name := range projections.ModelProjections[model] {
		for {
			reached, err := projections.Reached(ctx, r.rdb, name)
			if err != nil {
				return err
			}
			if reached >= seq {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%w: %s has reached sequence %d, not %d, within %v", errStale, name, reached, seq, wait)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(pollInterval):
			}
		}
	}
	return nil
}

func (r *Reader) classify(err error, model string) *queryError {
	var qe *queryError
	switch {
	case errors.As(err, &qe):
		return qe
	case errors.Is(err, projections.ErrNotFound):
		return &queryError{http.StatusNotFound, "not_found", err.Error()}
	case errors.Is(err, errStale):
		msg := err.Error()
		for _, name := range projections.ModelProjections[model] {
			if s, serr := projections.Status(context.Background(), r.rdb, name); serr == nil && s["state"] == "failed" {
				msg += fmt.Sprintf("; projection %s stopped at sequence %s: %s", name, s["sequence"], s["error"])
			}
		}
		return &queryError{http.StatusServiceUnavailable, "stale", msg}
	case errors.Is(err, redis.ErrClosed), isNetErr(err), errors.Is(err, context.DeadlineExceeded):
		return &queryError{http.StatusServiceUnavailable, "unavailable", "the read models cannot be reached"}
	}
	r.log.Error("query failed", "model", model, "error", err)
	return &queryError{http.StatusInternalServerError, "internal", "internal error; it has been logged"}
}

func isNetErr(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne)
}
