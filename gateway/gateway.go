package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/tracing"
)

// Defaults of the gateway's settings.
const (
	DefaultMaxBodyBytes      = 1 << 20
	DefaultTimeout           = 10 * time.Second
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds the whole request: 1 MiB arrives well
	// within it on any link a client should use.
	DefaultReadTimeout = 30 * time.Second
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxLongPolls is per client: a waiting client cannot take all
	// of the reader's waits (reader.max_waits, 100 per model by default).
	DefaultMaxLongPolls = 10
)

// envelopeParams are the parameters every query takes, as JSON numbers (a
// min_sequence that is a position "<stream>:<sequence>" as a string); a
// query with any of them may wait for the projections (a long poll).
var envelopeParams = []string{"min_sequence", "wait_ms"}

var tokenPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Options configure a Gateway.
type Options struct {
	MaxBodyBytes int64
	Timeout      time.Duration
	Logger       *slog.Logger
	// Queries are the queries the reader serves: their declared parameter
	// types tell which query parameters travel as JSON numbers. Without
	// them, only min_sequence and wait_ms do.
	Queries []reader.Query
	// Tokens and JWT turn authentication on (either is enough).
	Tokens []Token
	JWT    *JWT
	// Timeouts of Serve's http.Server.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
	// TLSCertFile and TLSKeyFile turn HTTPS on in Serve.
	TLSCertFile string
	TLSKeyFile  string
	// MaxLongPolls is per client.
	MaxLongPolls int
	// Routes are served beside the gateway's own.
	Routes []Route
	// TracerProvider makes the spans; nil means the global one.
	TracerProvider trace.TracerProvider
	// Browser, when set, serves the event browser (WithBrowser).
	Browser Browser
	// Live, when set, serves live queries (WithLive).
	Live http.Handler
}

// Gateway is an http.Handler forwarding to NATS.
type Gateway struct {
	nc   *nats.Conn
	opts Options
	// numeric lists, per "<model>.<name>", the parameters sent as numbers.
	numeric map[string]map[string]bool
	mux     *http.ServeMux
	// handler is mux with a server span per command or query request.
	handler http.Handler
	tracer  trace.Tracer
	// auth is nil when authentication is off.
	auth      *authenticator
	tls       *tls.Config
	longPolls *longPolls
	inFlight  atomic.Int64
	// stopping is cancelled when Serve shuts down: it ends the streams
	// (live events) that a graceful shutdown would otherwise wait for.
	stopping context.Context
	stop     context.CancelFunc
}

// ErrBadTLS is wrapped by New's error when the certificate or key of
// WithTLS cannot be used.
var ErrBadTLS = errors.New("gateway: bad TLS certificate")

// New returns a gateway that forwards over nc. It fails on settings it
// cannot use: a bad token entry, JWT key or certificate.
func New(nc *nats.Conn, options ...Option) (*Gateway, error) {
	var opts Options
	for _, o := range options {
		o(&opts)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxLongPolls <= 0 {
		opts.MaxLongPolls = DefaultMaxLongPolls
	}
	auth, err := newAuthenticator(opts.Tokens, opts.JWT)
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		nc: nc, opts: opts, numeric: map[string]map[string]bool{}, mux: http.NewServeMux(),
		auth: auth, longPolls: newLongPolls(opts.MaxLongPolls), tracer: tracing.Tracer(opts.TracerProvider),
	}
	g.handler = otelhttp.NewHandler(g.mux, "gateway",
		otelhttp.WithTracerProvider(opts.TracerProvider), otelhttp.WithPropagators(tracing.Propagator),
		// Commands and queries only: probes and metrics make no spans.
		// Named "<method> <route>" once the mux chose the route.
		otelhttp.WithFilter(func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/v1/") }))
	g.stopping, g.stop = context.WithCancel(context.Background())
	if (opts.TLSCertFile == "") != (opts.TLSKeyFile == "") {
		return nil, fmt.Errorf("%w: set both the certificate and the key file, got %q and %q", ErrBadTLS, opts.TLSCertFile, opts.TLSKeyFile)
	}
	if opts.TLSCertFile != "" {
		// Loaded now, so that a bad file stops the start, not the first client.
		cert, err := tls.LoadX509KeyPair(opts.TLSCertFile, opts.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadTLS, err)
		}
		g.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	g.numeric = reader.NumericParams(opts.Queries)
	g.mux.HandleFunc("POST /v1/commands/{type}/{command}", g.command)
	g.mux.HandleFunc("GET /v1/queries/{model}/{name}", g.query)
	if opts.Browser != nil {
		g.routeBrowser(opts.Browser)
	}
	if opts.Live != nil {
		g.mux.HandleFunc("GET /v1/live/{model}/{name}", g.liveQuery)
	}
	for _, rt := range opts.Routes {
		g.mux.Handle(rt.Pattern, g.require(rt.Scope, rt.Handler))
	}
	g.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: use POST /v1/commands/{type}/{command} or GET /v1/queries/{model}/{name}")
	})
	return g, nil
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.handler.ServeHTTP(w, r) }

// InFlight is the number of requests forwarded to NATS whose reply has not
// come yet; a request whose client went away no longer counts.
func (g *Gateway) InFlight() int64 { return g.inFlight.Load() }

func (g *Gateway) command(w http.ResponseWriter, r *http.Request) {
	typ, cmd := r.PathValue("type"), r.PathValue("command")
	if !tokenPattern.MatchString(typ) || !tokenPattern.MatchString(cmd) {
		writeError(w, http.StatusBadRequest, "bad_request", "type and command must match [a-z][a-z0-9_]{0,63}")
		return
	}
	if _, err := g.authorize(r, CommandScope(typ)); err != nil {
		err.write(w)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.opts.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		var netErr net.Error
		switch {
		case errors.As(err, &tooLarge):
			writeError(w, http.StatusRequestEntityTooLarge, "bad_request", fmt.Sprintf("body is larger than %d bytes", g.opts.MaxBodyBytes))
		case errors.As(err, &netErr) && netErr.Timeout():
			writeError(w, http.StatusRequestTimeout, "bad_request", fmt.Sprintf("the body did not arrive within the read timeout (%v)", g.opts.ReadTimeout))
		default:
			writeError(w, http.StatusBadRequest, "bad_request", "cannot read body: "+err.Error())
		}
		return
	}
	g.forward(w, r, "cmd."+typ+"."+cmd, body)
}

func (g *Gateway) query(w http.ResponseWriter, r *http.Request) {
	model, name := r.PathValue("model"), r.PathValue("name")
	if !tokenPattern.MatchString(model) || !tokenPattern.MatchString(name) {
		writeError(w, http.StatusBadRequest, "bad_request", "model and name must match [a-z][a-z0-9_]{0,63}")
		return
	}
	client, authErr := g.authorize(r, QueryScope(model))
	if authErr != nil {
		authErr.write(w)
		return
	}
	params := map[string]any{}
	longPoll := false
	for key, values := range r.URL.Query() {
		if len(values) != 1 {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("parameter %q is given %d times", key, len(values)))
			return
		}
		envelope := slices.Contains(envelopeParams, key)
		longPoll = longPoll || envelope
		if key == "min_sequence" && strings.Contains(values[0], ":") {
			// A position "<stream>:<sequence>" of a deployment of several
			// streams travels as a string; the reader checks it.
			params[key] = values[0]
			continue
		}
		v, err := reader.HTTPParam(key, values[0], envelope || g.numeric[model+"."+name][key])
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		params[key] = v
	}
	body, err := json.Marshal(params)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "cannot encode the query")
		return
	}
	if longPoll {
		if !g.longPolls.acquire(client.Name) {
			writeError(w, http.StatusTooManyRequests, "too_many_requests",
				fmt.Sprintf("%s already has %d queries waiting with min_sequence or wait_ms; wait for one to answer", client.Name, g.opts.MaxLongPolls))
			return
		}
		defer g.longPolls.release(client.Name)
	}
	g.forward(w, r, "query."+model+"."+name, body)
}

// liveQuery checks a live query's route and scope, and hands it to Options.Live
// until the client goes away or the gateway shuts down.
func (g *Gateway) liveQuery(w http.ResponseWriter, r *http.Request) {
	model, name := r.PathValue("model"), r.PathValue("name")
	if !tokenPattern.MatchString(model) || !tokenPattern.MatchString(name) {
		writeError(w, http.StatusBadRequest, "bad_request", "model and name must match [a-z][a-z0-9_]{0,63}")
		return
	}
	if _, authErr := g.authorize(r, QueryScope(model)); authErr != nil {
		authErr.write(w)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(g.stopping, cancel)
	defer stop()
	g.opts.Live.ServeHTTP(w, r.WithContext(ctx))
}

func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, subject string, body []byte) {
	start := time.Now()
	msg := nats.NewMsg(subject)
	msg.Data = body
	// The HTTP request's context: a client that goes away abandons the
	// NATS request at once.
	ctx, cancel := context.WithTimeout(r.Context(), g.opts.Timeout)
	defer cancel()
	// A client span for the NATS request, whose trace context the request
	// carries to the writer or the reader.
	ctx, span := g.tracer.Start(ctx, subject, requestSpan...)
	tracing.Inject(ctx, msg.Header)
	g.inFlight.Add(1)
	reply, err := g.nc.RequestMsgWithContext(ctx, msg)
	g.inFlight.Add(-1)
	endRequestSpan(span, reply, err)
	if err != nil {
		if r.Context().Err() != nil {
			g.opts.Logger.Debug("gateway client went away", "subject", subject, "duration", time.Since(start))
			return
		}
		status, code, message := http.StatusServiceUnavailable, "unavailable", "the service did not answer: "+err.Error()
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			// DESIGN §2: a command or query that the running services do
			// not offer is not found (not retryable), not unavailable.
			status, code, message = http.StatusNotFound, "not_found", "no service offers "+subject
		case errors.Is(err, context.DeadlineExceeded):
			message = fmt.Sprintf("the service did not answer within %v", g.opts.Timeout)
		}
		writeError(w, status, code, message)
		g.opts.Logger.Warn("gateway request failed", "subject", subject, "error", err)
		return
	}
	status := http.StatusOK
	if code := reply.Header.Get("Nats-Service-Error-Code"); code != "" {
		n, err := strconv.Atoi(code)
		if err != nil || n < 400 || n > 599 {
			n = http.StatusBadGateway
		}
		status = n
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(reply.Data)
	g.opts.Logger.Debug("gateway", "subject", subject, "status", status, "duration", time.Since(start))
}

// requestSpan starts the span of every NATS request the gateway sends.
var requestSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}

// endRequestSpan ends the span of a NATS request: an error status when no
// reply came or the reply is a failure of the service (5xx).
func endRequestSpan(span trace.Span, reply *nats.Msg, err error) {
	if span.IsRecording() {
		switch {
		case err != nil:
			span.SetStatus(codes.Error, err.Error())
		default:
			if code, _ := strconv.Atoi(reply.Header.Get("Nats-Service-Error-Code")); code >= http.StatusInternalServerError {
				span.SetStatus(codes.Error, reply.Header.Get("Nats-Service-Error"))
			}
		}
	}
	span.End()
}

// writeError writes the contract's error body.
func writeError(w http.ResponseWriter, status int, code, message string) {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
