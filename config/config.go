package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config holds every setting of a jetsource process. Each section is a YAML
// mapping of the same name; Default gives the values used when nothing is set.
type Config struct {
	// NATS is the connection to the NATS server that carries commands,
	// queries and the event store.
	NATS NATS `yaml:"nats"`
	// Redis is the connection to the Redis server that holds the read models.
	Redis Redis `yaml:"redis"`
	// Store is the event store on JetStream.
	Store Store `yaml:"store"`
	// Writer is the command side (cmd/writer).
	Writer Writer `yaml:"writer"`
	// Projector is the projection runner (cmd/projector).
	Projector Projector `yaml:"projector"`
	// Process is the process managers (package process) a projector runs
	// beside its projections, or a binary of their own.
	Process Process `yaml:"process"`
	// Reader is the query side (cmd/reader).
	Reader Reader `yaml:"reader"`
	// HTTP holds the HTTP listeners: health and metrics, and the gateway.
	HTTP HTTP `yaml:"http"`
	// Gateway is the HTTP gateway's security: tokens, TLS, timeouts, limits.
	Gateway Gateway `yaml:"gateway"`
	// Log is the process log.
	Log Log `yaml:"log"`
	// Standalone is the single-process mode with an embedded NATS server.
	Standalone Standalone `yaml:"standalone"`
	// Deployment names this deployment in the names it creates in NATS.
	Deployment Deployment `yaml:"deployment"`
}

// Deployment names a deployment of jetsource. Every name jetsource creates
// in NATS carries it: the projectors' consumers, the writer's buckets, the
// services and their queue groups, the rebuild subject; so two deployments
// on one NATS (a staging fleet beside production, a second projector fleet
// writing another Redis) never share, repositions or delete each other's.
// Commands and queries travel on the contract's subjects: only one
// deployment per NATS account serves them (NATS accounts isolate subjects).
type Deployment struct {
	// Name is empty for the one deployment of a NATS account, or
	// [a-z0-9][a-z0-9_-]{0,31}.
	Name string `yaml:"name"`
}

// NATS is the connection to NATS. At most one way to authenticate is set:
// a credentials file, an NKey seed file, a user and password, or a token.
// An env tag names the ecosystem variable honoured beside the JETSOURCE_ one.
// Password and Token are secrets: NATS prints and logs itself without them.
type NATS struct {
	// URL of the server, or several comma-separated URLs of one cluster.
	// Schemes: nats, tls, ws, wss.
	URL string `yaml:"url" env:"NATS_URL"`
	// Name is the client connection name the server shows in its monitoring.
	Name string `yaml:"name"`
	// CredsFile is a user credentials file (JWT and NKey seed), as made by nsc.
	CredsFile string `yaml:"creds_file" env:"NATS_CREDS"`
	// NKeySeedFile is a file holding a user NKey seed.
	NKeySeedFile string `yaml:"nkey_seed_file" env:"NATS_NKEY"`
	// User authenticates with Password.
	User string `yaml:"user" env:"NATS_USER"`
	// Password of User; never printed or logged.
	Password string `yaml:"password" env:"NATS_PASSWORD" secret:"true"`
	// Token is an authentication token; never printed or logged.
	Token string `yaml:"token" env:"NATS_TOKEN" secret:"true"`
	// TLSCert is a client certificate file (PEM); set together with TLSKey.
	TLSCert string `yaml:"tls_cert" env:"NATS_TLS_CERT"`
	// TLSKey is the private key file (PEM) of TLSCert.
	TLSKey string `yaml:"tls_key" env:"NATS_TLS_KEY"`
	// TLSCA is a file of CA certificates (PEM) that the server's must chain to.
	TLSCA string `yaml:"tls_ca" env:"NATS_TLS_CA"`
	// InboxPrefix is the prefix of the connection's reply subjects; empty:
	// nats.go's _INBOX. A user of `jetsource nats-config` may receive
	// replies on its own prefix only, _INBOX.<user>: set that.
	InboxPrefix string `yaml:"inbox_prefix"`
	// ConnectTimeout bounds the dial and handshake with one server.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// RequestTimeout bounds one request to the server: a JetStream publish,
	// a direct get, a key-value operation.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// StartupTimeout is how long a service keeps trying to reach NATS and
	// Redis when it starts (with backoff), since start order is not
	// readiness (docker-compose); then it gives up with the last error.
	StartupTimeout time.Duration `yaml:"startup_timeout"`
}

// Redis is the connection to Redis. A password in URL is a secret: Redis
// prints and logs itself without it.
type Redis struct {
	// URL of the server. Schemes: redis, rediss (TLS), unix (socket path),
	// e.g. redis://user:password@host:6379/0 or unix:///run/redis.sock?db=0.
	// With Cluster: the URLs of one or more nodes of the cluster,
	// comma-separated (the client finds the others), redis or rediss, all
	// with the same credentials, database 0.
	URL string `yaml:"url" env:"REDIS_URL"`
	// Cluster says URL names a Redis Cluster (or Valkey cluster): the
	// services then use a cluster client, which sends each key to the
	// master of its slot. Every key of one projection shares one hash tag,
	// so each projection lives on one master and the projections spread
	// over the masters.
	Cluster bool `yaml:"cluster"`
	// DialTimeout bounds opening a connection; it overrides a dial_timeout
	// given in URL, as do the two timeouts below.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ReadTimeout bounds reading one reply.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing one command.
	WriteTimeout time.Duration `yaml:"write_timeout"`
}

// Store is the event store: one JetStream stream and one key-value bucket.
type Store struct {
	// Stream is the name of the JetStream stream that holds every event
	// (the default layout, when Streams is empty).
	Stream string `yaml:"stream"`
	// Streams spreads the events over several streams by aggregate type,
	// each its own Raft group with its own leader (write scale on a
	// cluster); empty: the one stream Stream. Every aggregate type the
	// deployment registers must be in exactly one; the layout of an
	// existing deployment cannot change. See StreamLayout.
	Streams StreamLayout `yaml:"streams"`
	// SnapshotBucket is the name of the key-value bucket of snapshots.
	SnapshotBucket string `yaml:"snapshot_bucket"`
	// Replicas of the stream and bucket: 1 on one server, 3 or 5 in a cluster.
	Replicas int `yaml:"replicas"`
	// DuplicateWindow is how long JetStream remembers message ids to drop
	// a duplicate publish.
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	// MaxBatch is the most events one command may append (one atomic batch);
	// a larger command is refused, never split.
	MaxBatch int `yaml:"max_batch"`
}

// Writer is the command side.
type Writer struct {
	// Workers is the size of the bounded pool that handles commands.
	Workers int `yaml:"workers"`
	// MaxRetries is how often a command without expected_version is
	// reloaded and retried after a concurrency conflict before it is
	// answered 409.
	MaxRetries int `yaml:"max_retries"`
	// QueueGroup is the NATS queue group shared by all writers, so that each
	// command is handled by one of them.
	QueueGroup string `yaml:"queue_group"`
	// SnapshotEvery takes a snapshot of an aggregate each time its version
	// crosses a multiple of it; negative turns snapshots off.
	SnapshotEvery int `yaml:"snapshot_every"`
	// MaxQueueWait is how long a command may wait in a writer's queue: one
	// that waited longer is answered 503 and not executed.
	MaxQueueWait time.Duration `yaml:"max_queue_wait"`
	// StaleReservation is how old a unique key's reservation (a username)
	// whose command stored nothing must be before another aggregate may take
	// it over; keep it above max_queue_wait + 2 × nats.request_timeout.
	StaleReservation time.Duration `yaml:"stale_reservation"`
}

// Projector is the projection runner.
type Projector struct {
	// BatchSize is the most events fetched from a consumer at once.
	BatchSize int `yaml:"batch_size"`
	// MaxRetries is how often an event whose handler fails is retried
	// before the projection reports it and stops; 0: never retried.
	MaxRetries int `yaml:"max_retries"`
	// RetryBackoff is the pause before the first retry; each next one
	// doubles it. The lease is renewed while retrying.
	RetryBackoff time.Duration `yaml:"retry_backoff"`
	// LeaseTTL is how long a projector that stopped renewing its lease on a
	// projection keeps it before another projector takes over.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// FetchWait is how long one fetch from the event stream waits for
	// events; at most a third of LeaseTTL, which is renewed between fetches.
	FetchWait time.Duration `yaml:"fetch_wait"`
	// Partitions splits projections by aggregate into partitions that the
	// projector processes share: "<projection>=<n>,…", e.g.
	// "accounts=8,products=4"; a projection not named keeps one. The count
	// of a projection whose read model exists cannot change in place (the
	// projector refuses to start).
	Partitions string `yaml:"partitions"`
	// Processes runs the domains' process managers (the transfer sample's)
	// beside the projections; false leaves them to a binary of their own
	// (cmd/transfers manager). Several projectors may run them: one
	// instance of each is active, the others take over when it dies.
	Processes bool `yaml:"processes"`
}

// Process holds the settings of the process managers.
type Process struct {
	// PinnedTTL is how long the server keeps a process manager's active
	// instance pinned after it stopped pulling: the failover time to a
	// standby instance.
	PinnedTTL time.Duration `yaml:"pinned_ttl"`
	// TransferTimeout is how long a transfer of the transfer sample may take
	// before its process manager expires it (refunding a withdrawal that
	// was made); 0 turns the timeout off. JETSOURCE_TRANSFER_TIMEOUT, the
	// variable cmd/transfers read before it was a setting, sets it too.
	TransferTimeout time.Duration `yaml:"transfer_timeout" env:"JETSOURCE_TRANSFER_TIMEOUT"`
}

// Reader is the query side.
type Reader struct {
	// DefaultWait is how long a query with min_sequence and no wait_ms waits
	// for the projections to catch up before answering 503 stale.
	DefaultWait time.Duration `yaml:"default_wait"`
	// MaxWait caps the wait_ms a client may ask for.
	MaxWait time.Duration `yaml:"max_wait"`
	// MaxWaits is the most queries that may wait for a min_sequence of one
	// model at once; past it a wait is answered 503 unavailable at once, so
	// waiting clients can never starve the others.
	MaxWaits int `yaml:"max_waits"`
	// ReadyLag is how many events a projection behind the queries may be
	// behind the end of the stream while the reader still reports ready.
	ReadyLag int `yaml:"ready_lag"`
	// PollInterval is how often the reader reads the position of a
	// projection that queries wait for (one read per projection, whatever
	// the number of waiting queries).
	PollInterval time.Duration `yaml:"poll_interval"`
	// Live turns live queries on (package live): the reader keeps the
	// subscribed instances up to date in the LIVE stream and the projector
	// publishes a notice per committed batch. On by default (the users of
	// jetsource nats-config grant the subjects); off, the reader serves
	// queries alone and the projector publishes no notices.
	Live bool `yaml:"live"`
}

// HTTP holds the HTTP listeners, each a host:port.
type HTTP struct {
	// Listen serves /healthz, /readyz and /metrics; empty turns it off.
	Listen string `yaml:"listen"`
	// GatewayListen serves the HTTP gateway to commands and queries; empty
	// turns it off.
	GatewayListen string `yaml:"gateway_listen"`
	// MaxBodyBytes is the largest request body the gateway accepts.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// Gateway is the security of the HTTP gateway (cmd/gateway). With neither
// tokens_file nor a JWT key file set, the gateway asks for no token.
// Secrets stay in their files: these settings only name them.
type Gateway struct {
	// TokensFile is a YAML file of static bearer tokens, each a name, the
	// token's SHA-256 (gateway.HashToken) and its scopes; see the gateway
	// package doc.
	TokensFile string `yaml:"tokens_file"`
	// JWTSecretFile holds the secret that verifies HS256 JWTs (32 bytes or
	// more).
	JWTSecretFile string `yaml:"jwt_secret_file"`
	// JWTPublicKeyFile holds the PEM public key that verifies RS256 (RSA)
	// or EdDSA (Ed25519) JWTs.
	JWTPublicKeyFile string `yaml:"jwt_public_key_file"`
	// JWTIssuer, when set, must be a JWT's iss.
	JWTIssuer string `yaml:"jwt_issuer"`
	// JWTAudience, when set, must be among a JWT's aud.
	JWTAudience string `yaml:"jwt_audience"`
	// JWTScopeClaim names the claim that holds a JWT's scopes.
	JWTScopeClaim string `yaml:"jwt_scope_claim"`
	// TLSCert is the gateway's certificate chain (PEM); set together with
	// TLSKey to serve HTTPS.
	TLSCert string `yaml:"tls_cert"`
	// TLSKey is the private key file (PEM) of TLSCert.
	TLSKey string `yaml:"tls_key"`
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, headers and body; a body
	// still arriving then is answered 408.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// IdleTimeout is how long an idle keep-alive connection is kept.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxLongPolls is how many queries with min_sequence or wait_ms one
	// client (a token, or a remote IP without authentication) may have
	// running at once; one more is answered 429.
	MaxLongPolls int `yaml:"max_long_polls"`
	// Browser serves the event browser at /ui/ and its JSON endpoints under
	// /v1/admin/: an operator's view of every event, state and projection,
	// for the admin scope when authentication is on. Off by default.
	Browser bool `yaml:"browser"`
}

// AuthOn reports whether the gateway asks for bearer tokens.
func (g Gateway) AuthOn() bool {
	return g.TokensFile != "" || g.JWTSecretFile != "" || g.JWTPublicKeyFile != ""
}

// Log is the process log.
type Log struct {
	// Level is the least severe level written: debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text (key=value lines) or json (one object per line).
	Format string `yaml:"format"`
}

// Standalone is the single-process mode: writer, projector and reader in
// one process with an embedded NATS server.
type Standalone struct {
	// DataDir is the folder of the embedded server's JetStream file store.
	DataDir string `yaml:"data_dir"`
	// NATSListen is the host:port the embedded NATS server listens on, so
	// that other clients can reach it too.
	NATSListen string `yaml:"nats_listen"`
	// Sync is when the embedded server flushes JetStream writes to disk:
	// "always" (every write is on disk before it is acknowledged) or a
	// duration such as "2m" (the nats-server default: faster, but a crash of
	// the host can lose writes acknowledged within the last interval).
	Sync string `yaml:"sync"`
}

// SyncAlways is the Standalone.Sync value that flushes every JetStream write
// to disk before it is acknowledged.
const SyncAlways = "always"

// SyncInterval returns the embedded server's sync interval: zero and true
// for "always", else the parsed duration.
func (s Standalone) SyncInterval() (time.Duration, bool, error) {
	if s.Sync == SyncAlways {
		return 0, true, nil
	}
	d, err := time.ParseDuration(s.Sync)
	if err != nil || d <= 0 {
		return 0, false, fmt.Errorf("standalone.sync must be %q or a positive duration such as 2m, got %q", SyncAlways, s.Sync)
	}
	return d, false, nil
}

// Default returns the settings that work on a laptop with nothing set: NATS
// and Redis on their usual local ports, one replica, text logs at info. It is
// the one place that holds the defaults.
func Default() Config {
	return Config{
		NATS: NATS{
			URL:            "nats://127.0.0.1:4222",
			Name:           "jetsource",
			ConnectTimeout: 5 * time.Second,
			RequestTimeout: 5 * time.Second,
			StartupTimeout: time.Minute,
		},
		Redis: Redis{
			URL:          "redis://127.0.0.1:6379/0",
			DialTimeout:  5 * time.Second,
			ReadTimeout:  3 * time.Second,
			WriteTimeout: 3 * time.Second,
		},
		Store: Store{
			Stream:          "EVENTS",
			SnapshotBucket:  "SNAPSHOTS",
			Replicas:        1,
			DuplicateWindow: 10 * time.Minute,
			MaxBatch:        1000, // the server's default atomic batch limit
		},
		Writer: Writer{
			Workers:          64,
			MaxRetries:       10,
			QueueGroup:       "jetsource-writer",
			SnapshotEvery:    100,
			MaxQueueWait:     3 * time.Second, // writer.DefaultMaxQueueWait
			StaleReservation: time.Minute,     // writer.DefaultStaleReservation
		},
		Projector: Projector{
			BatchSize:    256,
			MaxRetries:   5,
			RetryBackoff: 200 * time.Millisecond,
			LeaseTTL:     5 * time.Second,
			FetchWait:    250 * time.Millisecond,
			Processes:    true,
		},
		Process: Process{
			PinnedTTL:       5 * time.Second,  // process.Options.PinnedTTL's default
			TransferTimeout: 30 * time.Second, // the transfer sample's
		},
		Reader: Reader{
			DefaultWait:  2 * time.Second, // DESIGN §3: wait_ms defaults to 2000
			MaxWait:      30 * time.Second,
			MaxWaits:     100,
			ReadyLag:     10_000,
			PollInterval: 5 * time.Millisecond,
			Live:         true,
		},
		HTTP: HTTP{
			Listen:        "", // off
			GatewayListen: "127.0.0.1:8080",
			MaxBodyBytes:  1 << 20, // 1 MiB, the NATS server's default max_payload
		},
		Gateway: Gateway{
			JWTScopeClaim:     "scope",          // gateway.DefaultScopeClaim
			ReadHeaderTimeout: 5 * time.Second,  // gateway.DefaultReadHeaderTimeout
			ReadTimeout:       30 * time.Second, // gateway.DefaultReadTimeout
			IdleTimeout:       2 * time.Minute,  // gateway.DefaultIdleTimeout
			MaxLongPolls:      10,               // gateway.DefaultMaxLongPolls
		},
		Log: Log{
			Level:  "info",
			Format: "text",
		},
		Standalone: Standalone{
			DataDir:    "./data",
			NATSListen: "127.0.0.1:4222",
			Sync:       SyncAlways,
		},
	}
}

// maxPartitions bounds a projection's partition count
// (projections.MaxPartitions).
const maxPartitions = 256

// PartitionCounts returns the partition count of each projection named in
// Partitions.
func (p Projector) PartitionCounts() (map[string]int, error) {
	out := map[string]int{}
	if strings.TrimSpace(p.Partitions) == "" {
		return out, nil
	}
	for _, item := range strings.Split(p.Partitions, ",") {
		name, count, ok := strings.Cut(strings.TrimSpace(item), "=")
		n, err := strconv.Atoi(strings.TrimSpace(count))
		name = strings.TrimSpace(name)
		switch {
		case !ok || name == "" || err != nil:
			return nil, fmt.Errorf("projector.partitions %q: each item must be <projection>=<count>, e.g. accounts=8; got %q", p.Partitions, item)
		case n < 1 || n > maxPartitions:
			return nil, fmt.Errorf("projector.partitions: %s must have between 1 and %d partitions, got %d", name, maxPartitions, n)
		case out[name] != 0:
			return nil, fmt.Errorf("projector.partitions: %s is named twice", name)
		}
		out[name] = n
	}
	return out, nil
}
