package writer

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Names and defaults of the writer's settings, in one place.
const (
	// ServiceName is the micro service name every writer registers.
	ServiceName = "jetsource-writer"
	// ServiceVersion is the version the service reports in discovery.
	ServiceVersion = "0.1.0"
	// DefaultQueueGroup is the queue group writers share the commands in.
	DefaultQueueGroup = "jetsource-writer"
	// DefaultWorkers is the size of the worker pool.
	DefaultWorkers = 64
	// DefaultQueueDepth is how many commands wait in one worker's queue; a
	// command that finds its worker's queue full is answered 503 at once.
	DefaultQueueDepth = 64
	// DefaultMaxQueueWait is how long a command may wait in a worker's queue:
	// one that waited longer is answered 503 and not executed, since its
	// client has likely given up.
	DefaultMaxQueueWait = 3 * time.Second
	// DefaultPendingMsgs and DefaultPendingBytes bound the messages an
	// endpoint's subscription buffers before the handler takes them; past
	// them NATS drops requests (a slow consumer, logged and counted).
	DefaultPendingMsgs  = 8192
	DefaultPendingBytes = 64 << 20
	// DefaultMaxRetries bounds how often a command without expected_version
	// is decided again after a concurrency conflict before the reply is 409.
	DefaultMaxRetries = 10
	// DefaultTimeout bounds the handling of one command, retries included.
	DefaultTimeout = 5 * time.Second
	// DefaultCacheSize is how many loaded aggregates one worker keeps.
	DefaultCacheSize = 1024
	// CommandsBucket is the key-value bucket of command_id -> first reply.
	CommandsBucket = "COMMANDS"
	// DefaultCommandsTTL is how long the first reply of a command_id is kept:
	// a resend within it gets that reply back and appends nothing.
	DefaultCommandsTTL = 7 * 24 * time.Hour
	// UniqueBucket is the key-value bucket of reserved unique keys.
	UniqueBucket = "UNIQUE"
	// DefaultStaleReservation is how old a unique key's reservation whose
	// command stored nothing must be before another aggregate may take it
	// over: a writer that stopped between reserving and appending leaves
	// such a reservation behind.
	DefaultStaleReservation = time.Minute
)

// Internal tuning that operators have no reason to change.
const (
	// retryBase and retryMax shape the jittered backoff between conflict
	// retries.
	retryBase = 2 * time.Millisecond
	retryMax  = 100 * time.Millisecond
)

// Options are the writer's settings.
type Options struct {
	QueueGroup   string
	Workers      int
	QueueDepth   int
	MaxRetries   int
	Timeout      time.Duration
	CacheSize    int
	CommandsTTL  time.Duration
	MaxQueueWait time.Duration
	PendingMsgs  int
	PendingBytes int
	// StaleReservation: see DefaultStaleReservation.
	StaleReservation time.Duration
	// StaleClaim is how old the claim of a command_id whose attempt never
	// settled must be before a twin takes it over; zero means MaxQueueWait +
	// 3 × Timeout, longer than a live attempt can publish (queue wait,
	// command time, and as long again to learn an unsure append's outcome).
	StaleClaim time.Duration
	// Deployment names the deployment the writer belongs to: its buckets
	// are COMMANDS_<deployment> and UNIQUE_<deployment> and its service
	// jetsource-writer-<deployment>. Empty: COMMANDS, UNIQUE,
	// jetsource-writer.
	Deployment string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// TracerProvider makes the commands' spans; nil means the global one
	// (otel.GetTracerProvider).
	TracerProvider trace.TracerProvider
}

// Option changes one setting.
type Option func(*Options)

// WithQueueGroup sets the queue group the endpoints share (default
// jetsource-writer). Writers in one group share the commands.
func WithQueueGroup(q string) Option { return func(o *Options) { o.QueueGroup = q } }

// WithWorkers sets the number of workers (default 64).
func WithWorkers(n int) Option { return func(o *Options) { o.Workers = n } }

// WithQueueDepth sets the length of each worker's queue (default 64).
func WithQueueDepth(n int) Option { return func(o *Options) { o.QueueDepth = n } }

// WithMaxQueueWait sets how long a command may wait in a worker's queue
// before it is answered 503 without being executed (default 3s).
func WithMaxQueueWait(d time.Duration) Option { return func(o *Options) { o.MaxQueueWait = d } }

// WithPendingLimits sets how many messages and bytes each endpoint's
// subscription buffers (default 8192 and 64 MiB); -1 means no limit.
func WithPendingLimits(msgs, bytes int) Option {
	return func(o *Options) { o.PendingMsgs, o.PendingBytes = msgs, bytes }
}

// WithMaxRetries sets how often a command without expected_version is
// retried after concurrency conflicts (default 10); 0 answers the first
// conflict with 409.
func WithMaxRetries(n int) Option { return func(o *Options) { o.MaxRetries = n } }

// WithTimeout bounds the handling of one command (default 5s).
func WithTimeout(d time.Duration) Option { return func(o *Options) { o.Timeout = d } }

// WithCacheSize sets how many aggregates each worker keeps loaded (default
// 1024); negative turns the cache off.
func WithCacheSize(n int) Option { return func(o *Options) { o.CacheSize = n } }

// WithCommandsTTL sets how long command replies are kept for idempotency
// (default 7 days). It applies when the writer creates the COMMANDS bucket.
func WithCommandsTTL(d time.Duration) Option { return func(o *Options) { o.CommandsTTL = d } }

// WithStaleReservation sets how old a unique key's reservation whose command
// stored nothing must be before another aggregate may take it over (default
// 1m). Keep it well above the command timeout: a holder paused longer than
// it may lose its key, and then does not append (its command answers 409 or
// reserves again).
func WithStaleReservation(d time.Duration) Option { return func(o *Options) { o.StaleReservation = d } }

// WithDeployment names the deployment the writer belongs to (see
// Options.Deployment).
func WithDeployment(name string) Option { return func(o *Options) { o.Deployment = name } }

// Named returns base, or base joined to the deployment name with sep when
// the deployment has one: how every name of a deployment is made.
func Named(base, sep, deployment string) string {
	if deployment == "" {
		return base
	}
	return base + sep + deployment
}

// WithStaleClaim sets how old an unsettled claim of a command_id must be
// before a twin takes it over (default max queue wait + 3 × timeout); it
// should exceed max queue wait + 2 × timeout (New warns otherwise).
func WithStaleClaim(d time.Duration) Option { return func(o *Options) { o.StaleClaim = d } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// WithMetrics registers the writer's Prometheus metrics on r. Without it
// nothing is registered.
func WithMetrics(r prometheus.Registerer) Option { return func(o *Options) { o.Registerer = r } }

// WithTracerProvider makes the writer's spans with tp (default: the global
// provider, otel.GetTracerProvider(), a no-op unless a program sets one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *Options) { o.TracerProvider = tp }
}

func defaultOptions() Options {
	return Options{
		QueueGroup:       DefaultQueueGroup,
		Workers:          DefaultWorkers,
		QueueDepth:       DefaultQueueDepth,
		MaxRetries:       DefaultMaxRetries,
		Timeout:          DefaultTimeout,
		CacheSize:        DefaultCacheSize,
		CommandsTTL:      DefaultCommandsTTL,
		StaleReservation: DefaultStaleReservation,
		MaxQueueWait:     DefaultMaxQueueWait,
		PendingMsgs:      DefaultPendingMsgs,
		PendingBytes:     DefaultPendingBytes,
		Logger:           slog.Default(),
	}
}

// maxCommandLife bounds how long after its arrival a command may still
// publish: queue wait, command time, outcome learning.
func (o Options) maxCommandLife() time.Duration { return o.MaxQueueWait + 2*o.Timeout }

func (o Options) validate() error {
	var errs []error

	if o.QueueGroup == "" {
		errs = append(errs, errors.New("writer: queue group must not be empty"))
	}
	if o.Workers < 1 || o.QueueDepth < 1 {
		errs = append(errs, fmt.Errorf("writer: workers (%d) and queue depth (%d) must be positive", o.Workers, o.QueueDepth))
	}
	if o.MaxRetries < 0 {
		errs = append(errs, fmt.Errorf("writer: max retries must not be negative, got %d", o.MaxRetries))
	}
	if o.Timeout <= 0 || o.CommandsTTL <= 0 || o.StaleReservation <= 0 {
		errs = append(errs, fmt.Errorf("writer: timeout (%v), commands TTL (%v) and stale reservation age (%v) must be positive",
			o.Timeout, o.CommandsTTL, o.StaleReservation))
	}
	if o.MaxQueueWait <= 0 {
		errs = append(errs, fmt.Errorf("writer: max queue wait must be positive, got %v", o.MaxQueueWait))
	}
	if o.PendingMsgs == 0 || o.PendingBytes == 0 || o.PendingMsgs < -1 || o.PendingBytes < -1 {
		errs = append(errs, fmt.Errorf("writer: pending limits must be positive or -1 (no limit), got %d messages and %d bytes",
			o.PendingMsgs, o.PendingBytes))
	}
	if o.Logger == nil {
		errs = append(errs, errors.New("writer: logger is nil"))
	}
	return errors.Join(errs...)
}
