package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/shred"
)

// Defaults of the store's settings, overridable with Options.
const (
	DefaultStream         = "EVENTS"
	DefaultSnapshotBucket = "SNAPSHOTS"
	// DefaultKeyBucket is the bucket of the keys that seal personal data,
	// one per aggregate (see package shred).
	DefaultKeyBucket       = shred.DefaultBucket
	DefaultReplicas        = 1
	DefaultDuplicateWindow = 10 * time.Minute
	// DefaultMaxBatch is the server's default limit on an atomic batch.
	DefaultMaxBatch = 1000
	// DefaultReadBatch is how many events one direct-get request returns.
	DefaultReadBatch = 1000
	// DefaultShortRead is how many events the first direct get of a read
	// asks for: a tail that short is read in one round trip.
	DefaultShortRead = 16
	// DefaultLongRead is how many events must be left after the first
	// direct get for a read to stream them with a consumer (measured: see
	// BenchmarkLoad).
	DefaultLongRead = 16
	// DefaultSnapshotEvery is the snapshot rule of a Repository whose model
	// does not set one.
	DefaultSnapshotEvery = 100
	// DefaultTimeout bounds one store call.
	DefaultTimeout = 5 * time.Second
)

// maxAsyncAppends bounds the single-event appends of one store that wait for
// their acknowledgement at once; more wait for a place (callers bound it
// first, one append each).
const maxAsyncAppends = 1 << 14

// minServerMajor and minServerMinor: atomic batch publish (ADR-50) arrived in
// nats-server 2.12.
const (
	minServerMajor = 2
	minServerMinor = 12
)

// Options configure a Store.
type Options struct {
	// Stream is the single event stream of the default layout (EVENTS).
	Stream string
	// Layout spreads the events over several streams by aggregate type;
	// empty: the one stream Stream capturing events.>.
	Layout          Layout
	SnapshotBucket  string
	KeyBucket       string
	Replicas        int
	DuplicateWindow time.Duration
	MaxBatch        int
	ReadBatch       int
	// ShortRead is the size of a read's first direct get.
	ShortRead int
	// LongRead is the tail, left after the first direct get, from which a
	// read streams with a consumer; 0 keeps reads to direct gets.
	LongRead int
	Timeout  time.Duration
	Logger   *slog.Logger
}

// Option changes one setting of Options.
type Option func(*Options)

// WithStream sets the stream name (default EVENTS).
func WithStream(name string) Option { return func(o *Options) { o.Stream = name } }

// WithLayout spreads the events over several streams by aggregate type
// (see Layout); without it, one stream (WithStream) holds every event.
func WithLayout(l Layout) Option { return func(o *Options) { o.Layout = l } }

// WithSnapshotBucket sets the snapshot key-value bucket (default SNAPSHOTS).
func WithSnapshotBucket(name string) Option { return func(o *Options) { o.SnapshotBucket = name } }

// WithKeyBucket sets the key-value bucket of the keys that seal personal
// data (default SUBJECT_KEYS). Every process that reads the stream must use
// the same one.
func WithKeyBucket(name string) Option { return func(o *Options) { o.KeyBucket = name } }

// WithReplicas sets the replicas of the stream and bucket (1 alone, 3 in a
// cluster).
func WithReplicas(n int) Option { return func(o *Options) { o.Replicas = n } }

// WithDuplicateWindow sets the stream's duplicate window.
func WithDuplicateWindow(d time.Duration) Option { return func(o *Options) { o.DuplicateWindow = d } }

// WithMaxBatch sets the largest atomic append (the server's limit, 1000 by
// default).
func WithMaxBatch(n int) Option { return func(o *Options) { o.MaxBatch = n } }

// WithReadBatch sets how many events one direct-get request fetches.
func WithReadBatch(n int) Option { return func(o *Options) { o.ReadBatch = n } }

// WithShortRead sets how many events the first direct get of a read asks for
// (default DefaultShortRead).
func WithShortRead(n int) Option { return func(o *Options) { o.ShortRead = n } }

// WithLongRead sets how many events must be left after a read's first direct
// get for the rest to stream with a consumer (default DefaultLongRead); 0
// keeps every read to batched direct gets (for a user without the right to
// create consumers).
func WithLongRead(n int) Option { return func(o *Options) { o.LongRead = n } }

// WithTimeout bounds every call (a shorter context deadline still wins).
func WithTimeout(d time.Duration) Option { return func(o *Options) { o.Timeout = d } }

// WithLogger sets the logger for warnings (corrupt snapshots and the like).
func WithLogger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

func defaultOptions() Options {
	return Options{
		Stream:          DefaultStream,
		SnapshotBucket:  DefaultSnapshotBucket,
		KeyBucket:       DefaultKeyBucket,
		Replicas:        DefaultReplicas,
		DuplicateWindow: DefaultDuplicateWindow,
		MaxBatch:        DefaultMaxBatch,
		ReadBatch:       DefaultReadBatch,
		ShortRead:       DefaultShortRead,
		LongRead:        DefaultLongRead,
		Timeout:         DefaultTimeout,
		Logger:          slog.Default(),
	}
}

func (o Options) validate() error {
	var errs []error
	if len(o.Layout) == 0 && (o.Stream == "" || strings.ContainsAny(o.Stream, " .*>/\\\t\r\n")) {
		errs = append(errs, fmt.Errorf("streams: invalid stream name %q", o.Stream))
	}
	errs = append(errs, o.Layout.Validate())
	for _, b := range []struct{ what, name string }{{"snapshot", o.SnapshotBucket}, {"key", o.KeyBucket}} {
		if b.name == "" || strings.ContainsAny(b.name, " .*>/\\\t\r\n") {
			errs = append(errs, fmt.Errorf("streams: invalid %s bucket name %q", b.what, b.name))
		}
	}
	if o.KeyBucket == o.SnapshotBucket {
		errs = append(errs, fmt.Errorf("streams: the key bucket and the snapshot bucket are both %q", o.KeyBucket))
	}
	if o.Replicas < 1 || o.Replicas > 5 {
		errs = append(errs, fmt.Errorf("streams: replicas must be 1 to 5, got %d", o.Replicas))
	}
	if o.DuplicateWindow <= 0 {
		errs = append(errs, fmt.Errorf("streams: duplicate window must be positive, got %v", o.DuplicateWindow))
	}
	if o.MaxBatch < 1 {
		errs = append(errs, fmt.Errorf("streams: max batch must be positive, got %d", o.MaxBatch))
	}
	if o.ReadBatch < 1 {
		errs = append(errs, fmt.Errorf("streams: read batch must be positive, got %d", o.ReadBatch))
	}
	if o.ShortRead < 1 {
		errs = append(errs, fmt.Errorf("streams: short read must be positive, got %d", o.ShortRead))
	}
	if o.LongRead < 0 {
		errs = append(errs, fmt.Errorf("streams: long read must be 0 (never) or positive, got %d", o.LongRead))
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("streams: timeout must be positive, got %v", o.Timeout))
	}
	return errors.Join(errs...)
}

// Store is the event store. It is safe for concurrent use.
type Store struct {
	js jetstream.JetStream
	// pub publishes single-event appends asynchronously (see publish).
	pub jetstream.JetStream
	// streams are the event streams of the layout, by name.
	streams map[string]jetstream.Stream
	// layout is the store's layout (one stream without types by default);
	// routes maps each aggregate type of a layout of several streams to
	// its stream.
	layout    Layout
	routes    map[string]string
	snapshots jetstream.KeyValue
	keys      *shred.Keyring
	opts      Options
	log       *slog.Logger
	// gets carries the answers of batched direct gets.
	gets *getMux
	// noConsumers is set once the server refused a long read's consumer.
	noConsumers atomic.Bool
	// readConsumers holds a token for each long read's consumer the server
	// may still keep (until longReadInactive after the read): see
	// MaxReadConsumers.
	readConsumers chan struct{}
	// lengths says which aggregate types' whole histories are long.
	lengths readLengths
}

// readLengths tracks, per aggregate type, the share of its whole-history
// reads that were long (at least ShortRead+LongRead events, the reads that
// end on a consumer), as a moving average over the last reads: a whole
// history of a type whose share is at least one half starts with its
// consumer instead of a direct get.
type readLengths struct {
	mu    sync.Mutex
	share map[string]float64
}

// readLengthTypes bounds the types readLengths follows.
const readLengthTypes = 1024

// long reports whether whole histories of typ have mostly been long.
func (r *readLengths) long(typ string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.share[typ] >= 0.5
}

// record counts a whole-history read of typ, long or not: each read weighs
// a fifth, so four long reads in a row turn a type long, and at most four
// short ones turn it back.
func (r *readLengths) record(typ string, long bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.share == nil {
		r.share = make(map[string]float64)
	}
	share, known := r.share[typ]
	if !known && len(r.share) >= readLengthTypes {
		return
	}
	share *= 0.8
	if long {
		share += 0.2
	}
	r.share[typ] = share
}

// MaxReadConsumers bounds the consumers of long reads one store keeps on the
// server at once, those still to be removed by the server included. A
// nats-server allows 1,000 consumers per stream unless configured otherwise
// (jetstream default_max_consumers), and the projectors' consumers must
// always find room: a long read past the bound reads with direct gets.
const MaxReadConsumers = 64

// Open provisions the stream and snapshot bucket (idempotently) and returns
// the store. It fails with ErrServerTooOld on a server older than 2.12 and
// with ErrIncompatibleStream when an existing stream's settings contradict
// the store's.
func Open(ctx context.Context, nc *nats.Conn, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if !nc.IsConnected() {
		// Not "too old": a connection between servers has no version to
		// tell, and the store may open once it is back.
		return nil, fmt.Errorf("streams: open: %w: not connected to NATS (%s)", ErrUnavailable, nc.Status())
	}
	if err := checkServerVersion(nc.ConnectedServerVersion()); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(o.Timeout))
	if err != nil {
		return nil, fmt.Errorf("streams: %w", err)
	}
	pub, err := jetstream.New(nc, jetstream.WithDefaultTimeout(o.Timeout),
		jetstream.WithPublishAsyncMaxPending(maxAsyncAppends), jetstream.WithPublishAsyncTimeout(o.Timeout))
	if err != nil {
		return nil, fmt.Errorf("streams: %w", err)
	}
	parent := ctx
	ctx, cancel := withTimeout(ctx, o.Timeout)
	defer cancel()
	layout := o.effectiveLayout()
	eventStreams, err := provisionLayout(ctx, js, o, layout)
	if err != nil {
		return nil, err
	}
	kv, err := provisionSnapshots(ctx, js, o)
	if err != nil {
		return nil, err
	}
	keys, err := provisionBucket(ctx, js, o, shred.BucketConfig(o.KeyBucket))
	if err != nil {
		return nil, err
	}
	if layout.MultiStream() && o.Replicas > 1 {
		sctx, cancel := context.WithTimeout(parent, spreadTimeout)
		spreadLeaders(sctx, js, layout, o)
		cancel()
	}
	routes := map[string]string{}
	for _, spec := range layout {
		for _, t := range spec.Types {
			routes[t] = spec.Name
		}
	}
	return &Store{js: js, pub: pub, gets: newGetMux(nc), readConsumers: make(chan struct{}, MaxReadConsumers),
		streams: eventStreams, layout: layout, routes: routes,
		snapshots: kv, keys: shred.NewKeyring(keys), opts: o, log: o.Logger}, nil
}

// JetStream returns the store's JetStream context, for callers that need
// other streams or buckets on the same connection.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Keys returns the keyring that seals and opens the personal data of the
// store's events, for readers of the stream that do not load through the
// store (the projections' runner).
func (s *Store) Keys() *shred.Keyring { return s.keys }

// StreamName returns the name of the event stream of the default layout, the
// first stream of a layout of several (see Layout and StreamOf).
func (s *Store) StreamName() string { return s.layout[0].Name }

// checkServerVersion refuses servers older than 2.12, which lack atomic batch
// publish.
func checkServerVersion(v string) error {
	var major, minor, patch int
	core, _, _ := strings.Cut(strings.TrimPrefix(v, "v"), "-")
	if _, err := fmt.Sscanf(core, "%d.%d.%d", &major, &minor, &patch); err != nil {
		return fmt.Errorf("streams: %w: cannot read server version %q; nats-server %d.%d or newer is required",
			ErrServerTooOld, v, minServerMajor, minServerMinor)
	}
	if major < minServerMajor || (major == minServerMajor && minor < minServerMinor) {
		return fmt.Errorf("streams: %w: connected server is %s; jetsource needs nats-server %d.%d or newer (atomic batch publish)",
			ErrServerTooOld, v, minServerMajor, minServerMinor)
	}
	return nil
}

// StreamConfig returns the configuration the store gives its event stream (a
// stream of a layout of several has its own name, subjects and metadata).
func StreamConfig(o Options) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:               o.Stream,
		Description:        "jetsource event store: events.<type>.<id>, append-only",
		Subjects:           []string{SubjectPrefix + ".>"},
		Retention:          jetstream.LimitsPolicy,
		Storage:            jetstream.FileStorage,
		MaxMsgs:            -1,
		MaxBytes:           -1,
		MaxAge:             0,
		MaxMsgsPerSubject:  -1,
		Discard:            jetstream.DiscardOld,
		Replicas:           o.Replicas,
		Duplicates:         o.DuplicateWindow,
		DenyDelete:         true,
		DenyPurge:          true,
		AllowRollup:        false,
		AllowDirect:        true,
		AllowAtomicPublish: true,
	}
}

func provisionStream(ctx context.Context, js jetstream.JetStream, o Options, want jetstream.StreamConfig) (jetstream.Stream, error) {
	stream, err := js.CreateStream(ctx, want)
	if err == nil {
		return stream, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return nil, fmt.Errorf("streams: create stream %s: %w", want.Name, classify(err))
	}
	stream, err = js.Stream(ctx, want.Name)
	if err != nil {
		return nil, fmt.Errorf("streams: open stream %s: %w", want.Name, classify(err))
	}
	got := stream.CachedInfo().Config
	if problems := streamMismatches(got, want); len(problems) > 0 {
		return nil, fmt.Errorf("streams: %w %s: %s", ErrIncompatibleStream, want.Name, strings.Join(problems, "; "))
	}
	if got.Replicas != want.Replicas {
		got.Replicas = want.Replicas
		if updated, err := updateReplicas(ctx, js, "stream", got, o.Logger); err == nil {
			return updated, nil
		}
	}
	return stream, nil
}

// ProvisionStream creates the stream of cfg, or updates the existing one
// when its configuration differs; one already there with cfg is left as it
// is. jetstream's CreateOrUpdateStream sends an update every time, and an
// update rewrites the stream's configuration while others create consumers
// on it (nats-server 2.15.2 reads it there without a lock: a data race).
func ProvisionStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	stream, err := js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return js.UpdateStream(ctx, cfg)
	}
	return stream, err
}

// updateReplicas asks the server to move an existing stream (or a bucket's
// stream) to the configured number of replicas, and says so either way: a
// stream with fewer replicas than configured is lost with one node's disk.
func updateReplicas(ctx context.Context, js jetstream.JetStream, what string, cfg jetstream.StreamConfig, log *slog.Logger) (jetstream.Stream, error) {
	info, err := js.Stream(ctx, cfg.Name)
	if err != nil {
		return nil, err
	}
	had := info.CachedInfo().Config.Replicas
	updated, err := js.UpdateStream(ctx, cfg)
	if err != nil {
		log.Warn("existing "+what+" has another number of replicas than configured, and the server refused to change it",
			"stream", cfg.Name, "replicas", had, "configured", cfg.Replicas, "error", err)
		return nil, err
	}
	log.Warn("existing "+what+" had another number of replicas than configured: updated",
		"stream", cfg.Name, "from", had, "to", cfg.Replicas)
	return updated, nil
}

// streamMismatches lists the settings of an existing stream that contradict
// the event store's: any that could lose, change or reorder events, or that
// the store relies on.
func streamMismatches(got, want jetstream.StreamConfig) []string {
	var p []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			p = append(p, fmt.Sprintf(format, args...))
		}
	}
	check(slices.Equal(got.Subjects, want.Subjects), "subjects are %v, want %v", got.Subjects, want.Subjects)
	check(got.Retention == jetstream.LimitsPolicy, "retention is %v, want limits (other policies delete events)", got.Retention)
	check(got.Storage == jetstream.FileStorage, "storage is %v, want file", got.Storage)
	check(got.MaxMsgs <= 0 && got.MaxBytes <= 0 && got.MaxAge == 0, "limits remove old events (max_msgs %d, max_bytes %d, max_age %v)", got.MaxMsgs, got.MaxBytes, got.MaxAge)
	check(got.MaxMsgsPerSubject <= 0, "max_msgs_per_subject is %d, want -1", got.MaxMsgsPerSubject)
	check(got.DenyDelete, "deny_delete is off")
	check(got.DenyPurge, "deny_purge is off")
	check(!got.AllowRollup, "allow_rollup_hdrs is on (a rollup purges events)")
	check(got.AllowDirect, "allow_direct is off")
	check(got.AllowAtomicPublish, "allow_atomic is off")
	check(!got.AllowMsgSchedules, "allow_msg_schedules is on")
	check(got.SubjectDeleteMarkerTTL == 0, "subject_delete_marker_ttl is set")
	check(got.PersistMode == jetstream.DefaultPersistMode, "persist_mode is %v, want default (async persist is incompatible with atomic batches)", got.PersistMode)
	return p
}

func provisionSnapshots(ctx context.Context, js jetstream.JetStream, o Options) (jetstream.KeyValue, error) {
	return provisionBucket(ctx, js, o, jetstream.KeyValueConfig{
		Bucket:      o.SnapshotBucket,
		Description: "jetsource snapshots: <type>.<id> -> state, version, sequence",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
}

// Bucket provisions (idempotently) and returns a key-value bucket of the
// platform on the store's server, with the store's replicas: every bucket
// and stream jetsource creates follows one replicas setting, so that losing
// a node loses none of them. An existing bucket with another number of
// replicas is reported and, where the server allows it, updated.
func (s *Store) Bucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	ctx, cancel := withTimeout(ctx, s.opts.Timeout)
	defer cancel()
	return provisionBucket(ctx, s.js, s.opts, cfg)
}

// kvStreamPrefix names the stream behind a key-value bucket.
const kvStreamPrefix = "KV_"

func provisionBucket(ctx context.Context, js jetstream.JetStream, o Options, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	cfg.Replicas = o.Replicas
	kv, err := js.CreateKeyValue(ctx, cfg)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketExists) {
		return nil, fmt.Errorf("streams: create bucket %s: %w", cfg.Bucket, classify(err))
	}
	kv, err = js.KeyValue(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("streams: open bucket %s: %w", cfg.Bucket, classify(err))
	}
	stream, err := js.Stream(ctx, kvStreamPrefix+cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("streams: open bucket %s: %w", cfg.Bucket, classify(err))
	}
	if got := stream.CachedInfo().Config; got.Replicas != o.Replicas {
		got.Replicas = o.Replicas
		_, _ = updateReplicas(ctx, js, "bucket", got, o.Logger)
	}
	return kv, nil
}

// withTimeout bounds one store call by the store's timeout; an earlier
// deadline of the caller's context still wins.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= d {
		return ctx, func() {} // already bounded as tightly: spare a timer
	}
	return context.WithTimeout(ctx, d)
}

// classify wraps errors that mean the server could not be reached or did not
// answer with ErrUnavailable, leaving others as they are.
func classify(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrConnectionDraining),
		errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrInvalidConnection),
		errors.Is(err, nats.ErrReconnectBufExceeded),
		errors.Is(err, nats.ErrStaleConnection),
		errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, jetstream.ErrAsyncPublishTimeout),
		errors.Is(err, jetstream.ErrTooManyStalledMsgs),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
