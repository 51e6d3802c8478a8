package reader

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Option changes one setting of a Reader (functional options, as the other
// packages take); a setting left out means its default.
type Option func(*Options)

// WithDefaultWait sets how long a min_sequence waits when wait_ms is absent.
func WithDefaultWait(d time.Duration) Option { return func(o *Options) { o.DefaultWait = d } }

// WithMaxWait caps the wait_ms a client may ask for.
func WithMaxWait(d time.Duration) Option { return func(o *Options) { o.MaxWait = d } }

// WithReadTimeout bounds the reads of one query after its wait.
func WithReadTimeout(d time.Duration) Option { return func(o *Options) { o.ReadTimeout = d } }

// WithMaxWaits bounds the queries waiting for one model at once.
func WithMaxWaits(n int) Option { return func(o *Options) { o.MaxWaits = n } }

// WithPollInterval sets how often a waited-for projection's position is read.
func WithPollInterval(d time.Duration) Option { return func(o *Options) { o.PollInterval = d } }

// WithLastSequence gives the reader the event stream's last sequence (see
// LastSequenceOf): a min_sequence beyond it answers stale at once.
func WithLastSequence(f func(context.Context) (uint64, error)) Option {
	return func(o *Options) { o.LastSequence = f }
}

// WithStreams makes the reader one of a deployment of several event streams
// (see Options.Streams): streamOf maps each projection to the stream it
// follows, last returns the last sequence of one stream.
func WithStreams(streamOf map[string]string, last func(ctx context.Context, stream string) (uint64, error)) Option {
	return func(o *Options) { o.Streams, o.LastSequenceIn = streamOf, last }
}

// WithDeployment names the deployment (see Options.Deployment).
func WithDeployment(name string) Option { return func(o *Options) { o.Deployment = name } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// WithMetrics registers the reader's metrics on r.
func WithMetrics(r prometheus.Registerer) Option { return func(o *Options) { o.Registerer = r } }

// WithTracerProvider makes the reader's spans, one per query, with tp
// (default: the global provider, otel.GetTracerProvider(), a no-op unless a
// program sets one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *Options) { o.TracerProvider = tp }
}
