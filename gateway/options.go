package gateway

import (
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/jetsource/jetsource/reader"
)

// Option changes one setting of a Gateway (functional options, as the other
// packages take); a setting left out means its default.
type Option func(*Options)

// WithMaxBodyBytes sets the largest request body (default DefaultMaxBodyBytes).
func WithMaxBodyBytes(n int64) Option { return func(o *Options) { o.MaxBodyBytes = n } }

// WithTimeout bounds one forwarded request (default DefaultTimeout).
func WithTimeout(d time.Duration) Option { return func(o *Options) { o.Timeout = d } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// WithQueries tells the gateway the queries the readers serve: their
// declared parameter types say which travel as JSON numbers.
func WithQueries(qs ...reader.Query) Option {
	return func(o *Options) { o.Queries = append(o.Queries, qs...) }
}

// WithTokens accepts these static bearer tokens (see LoadTokens); with any
// token or a JWT key configured, every request must carry a bearer token.
func WithTokens(tokens ...Token) Option {
	return func(o *Options) { o.Tokens = append(o.Tokens, tokens...) }
}

// WithJWT accepts JSON Web Tokens verified with cfg's keys.
func WithJWT(cfg JWT) Option { return func(o *Options) { o.JWT = &cfg } }

// WithReadHeaderTimeout bounds reading a request's headers in Serve
// (default DefaultReadHeaderTimeout).
func WithReadHeaderTimeout(d time.Duration) Option {
	return func(o *Options) { o.ReadHeaderTimeout = d }
}

// WithReadTimeout bounds reading a whole request, headers and body, in Serve
// (default DefaultReadTimeout); a body still arriving then is answered 408.
func WithReadTimeout(d time.Duration) Option { return func(o *Options) { o.ReadTimeout = d } }

// WithIdleTimeout bounds how long Serve keeps an idle keep-alive connection
// (default DefaultIdleTimeout).
func WithIdleTimeout(d time.Duration) Option { return func(o *Options) { o.IdleTimeout = d } }

// WithTLS makes Serve speak HTTPS with the certificate (PEM, the chain) and
// its private key (PEM) in these files.
func WithTLS(certFile, keyFile string) Option {
	return func(o *Options) { o.TLSCertFile, o.TLSKeyFile = certFile, keyFile }
}

// WithMaxLongPolls sets how many queries with min_sequence or wait_ms one
// client may have running at once (default DefaultMaxLongPolls); one more is
// answered 429.
func WithMaxLongPolls(n int) Option { return func(o *Options) { o.MaxLongPolls = n } }

// WithRoute serves h on pattern (an http.ServeMux pattern) beside the
// gateway's routes, for requests whose token grants scope ("" for every
// request: health probes). The gateway's process puts /healthz and /readyz
// there open, and /metrics with ScopeAdmin.
func WithRoute(pattern, scope string, h http.Handler) Option {
	return func(o *Options) { o.Routes = append(o.Routes, Route{Pattern: pattern, Scope: scope, Handler: h}) }
}

// WithTracerProvider makes the gateway's spans with tp: a server span per
// command or query request (continuing the trace of its traceparent header)
// and a client span per NATS request, whose trace context goes in the NATS
// request's headers. Default: the global provider, otel.GetTracerProvider(),
// a no-op unless a program sets one.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *Options) { o.TracerProvider = tp }
}

// Route is an extra route of the gateway (WithRoute).
type Route struct {
	Pattern string
	Scope   string
	Handler http.Handler
}

// WithLive serves live queries (Server-Sent Events, package live's Handler)
// at GET /v1/live/{model}/{name}, for tokens with the query's scope
// (query:<model> or query:*), as GET /v1/queries/{model}/{name} is.
func WithLive(h http.Handler) Option { return func(o *Options) { o.Live = h } }
