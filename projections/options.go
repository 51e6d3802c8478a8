package projections

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/jetsource/jetsource/streams"
)

// Option changes one setting of a Runner (functional options, as streams
// and writer take): the zero Options, and any setting left out, mean the
// defaults (DefaultBatchSize …).
type Option func(*Options)

// WithStream sets the event stream (default streams.DefaultStream).
func WithStream(name string) Option { return func(o *Options) { o.Stream = name } }

// WithLayout sets the deployment's layout of event streams (see
// Options.Layout); without it, the one stream of WithStream.
func WithLayout(l streams.Layout) Option { return func(o *Options) { o.Layout = l } }

// WithBatchSize sets the most events fetched and applied at once.
func WithBatchSize(n int) Option { return func(o *Options) { o.BatchSize = n } }

// WithMaxRetries sets how often a failing event is retried before its
// projection stops on it; NoRetries for none.
func WithMaxRetries(n int) Option { return func(o *Options) { o.MaxRetries = n } }

// WithRetryBackoff sets the pause before the first retry (each next one
// doubles it).
func WithRetryBackoff(d time.Duration) Option { return func(o *Options) { o.RetryBackoff = d } }

// WithLeaseTTL sets how long a runner that stopped renewing keeps a
// projection before another may take it over.
func WithLeaseTTL(d time.Duration) Option { return func(o *Options) { o.LeaseTTL = d } }

// WithFetchWait sets how long one fetch waits for events.
func WithFetchWait(d time.Duration) Option { return func(o *Options) { o.FetchWait = d } }

// WithDeployment names the deployment (see Options.Deployment).
func WithDeployment(name string) Option { return func(o *Options) { o.Deployment = name } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// WithMetrics registers the runner's metrics on r.
func WithMetrics(r prometheus.Registerer) Option { return func(o *Options) { o.Registerer = r } }

// WithPersonalData sets what opens the personal fields of events and
// completes forgets: the event store, so that the runner uses its key
// bucket (see Options.Personal).
func WithPersonalData(p PersonalData) Option { return func(o *Options) { o.Personal = p } }

// WithTracerProvider makes the spans of the events the runner applies (one
// per event, in the trace of the command that appended it) with tp
// (default: the global provider, otel.GetTracerProvider(), a no-op unless a
// program sets one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *Options) { o.TracerProvider = tp }
}

// WithCommitted calls f after each batch of events a running projection
// committed (see Options.Committed).
func WithCommitted(f func(Committed)) Option { return func(o *Options) { o.Committed = f } }
