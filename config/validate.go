package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Bounds of the settings Validate checks.
const (
	maxWorkers     = 4096
	maxBatchSize   = 10_000
	maxRetries     = 100
	maxWaiters     = 100_000
	maxNameLen     = 255      // JetStream's longest stream name
	maxBodyBytes   = 64 << 20 // the NATS server's largest max_payload
	kvStreamPrefix = "KV_"    // the stream behind a key-value bucket
	// maxPinnedTTL bounds process.pinned_ttl: past it a dead process
	// manager's work would wait too long for a standby.
	maxPinnedTTL = 10 * time.Minute
	// leaseRenewals is how many fetches must fit in a projector's lease:
	// the lease is renewed between fetches.
	leaseRenewals = 3
)

var deploymentName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

var (
	natsSchemes  = []string{"nats", "tls", "ws", "wss"}
	redisSchemes = []string{"redis", "rediss", "unix"}
	// redisClusterSchemes are those of the nodes of a Redis Cluster.
	redisClusterSchemes = []string{"redis", "rediss"}
	logLevels           = []string{"debug", "info", "warn", "error"}
	logFormats          = []string{"text", "json"}
	replicas            = []int{1, 3, 5}
	// bucketName is the key-value bucket rule of nats.go.
	bucketName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// inboxPrefix is a literal subject: no wildcard, no empty token.
	inboxPrefix = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
)

// Validate checks every setting and reports each bad one at once, naming it
// by its YAML path with the value it has, e.g.
//
//	config: writer.workers must be between 1 and 4096, got 0
//
// Secrets are never part of a message.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: "+format, args...))
	}

	// NATS
	for u := range strings.SplitSeq(c.NATS.URL, ",") {
		checkURL(bad, "nats.url", strings.TrimSpace(u), natsSchemes)
	}
	auth := []string{}
	for _, a := range []struct{ name, value string }{
		{"nats.creds_file", c.NATS.CredsFile},
		{"nats.nkey_seed_file", c.NATS.NKeySeedFile},
		{"nats.user", c.NATS.User},
		{"nats.token", c.NATS.Token},
	} {
		if a.value != "" {
			auth = append(auth, a.name)
		}
	}
	if len(auth) > 1 {
		bad("set one way to authenticate to NATS, got %s", strings.Join(auth, ", "))
	}
	if c.NATS.Password != "" && c.NATS.User == "" {
		bad("nats.password is set without nats.user")
	}
	if (c.NATS.TLSCert == "") != (c.NATS.TLSKey == "") {
		bad("nats.tls_cert and nats.tls_key must be set together, got tls_cert %q and tls_key %q", c.NATS.TLSCert, c.NATS.TLSKey)
	}
	if p := c.NATS.InboxPrefix; p != "" && !inboxPrefix.MatchString(p) {
		bad("nats.inbox_prefix %q must be subject tokens of letters, digits, '-' and '_' joined by '.', such as _INBOX.writer", p)
	}
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			bad("%s must be a positive duration, got %v", name, d)
		}
	}
	positive("nats.connect_timeout", c.NATS.ConnectTimeout)
	positive("nats.request_timeout", c.NATS.RequestTimeout)
	positive("nats.startup_timeout", c.NATS.StartupTimeout)

	// Redis
	switch {
	case c.Redis.Cluster:
		fine := true
		for _, u := range strings.Split(c.Redis.URL, ",") {
			fine = checkURL(bad, "redis.url", strings.TrimSpace(u), redisClusterSchemes) && fine
		}
		if fine {
			if _, err := c.Redis.ClusterOptions(); err != nil {
				errs = append(errs, err)
			}
		}
	case strings.Contains(c.Redis.URL, ",") && strings.Count(c.Redis.URL, "://") > 1:
		bad("redis.url %q names several servers: set redis.cluster: true (JETSOURCE_REDIS_CLUSTER=true) for a Redis Cluster", RedactURL(c.Redis.URL))
	case checkURL(bad, "redis.url", c.Redis.URL, redisSchemes):
		// go-redis knows the rest: the database number, the query options.
		if _, err := c.Redis.Options(); err != nil {
			errs = append(errs, err)
		}
	}
	positive("redis.dial_timeout", c.Redis.DialTimeout)
	positive("redis.read_timeout", c.Redis.ReadTimeout)
	positive("redis.write_timeout", c.Redis.WriteTimeout)

	// Store
	if err := streamName(c.Store.Stream); err != "" {
		bad("store.stream %q %s", c.Store.Stream, err)
	}
	if b := c.Store.SnapshotBucket; !bucketName.MatchString(b) || len(b) > maxNameLen-len(kvStreamPrefix) {
		bad("store.snapshot_bucket %q must be 1 to %d letters, digits, '-' or '_'", b, maxNameLen-len(kvStreamPrefix))
	}
	if c.Store.Stream == kvStreamPrefix+c.Store.SnapshotBucket {
		bad("store.stream %q is the stream of store.snapshot_bucket %q", c.Store.Stream, c.Store.SnapshotBucket)
	}
	if specs, err := c.Store.Streams.Specs(); err != nil {
		bad("store.streams %q: %v", c.Store.Streams, err)
	} else {
		for _, spec := range specs {
			if spec.Name == kvStreamPrefix+c.Store.SnapshotBucket {
				bad("store.streams: stream %s is the stream of store.snapshot_bucket %q", spec.Name, c.Store.SnapshotBucket)
			}
		}
	}
	if !slices.Contains(replicas, c.Store.Replicas) {
		bad("store.replicas must be 1, 3 or 5, got %d", c.Store.Replicas)
	}
	positive("store.duplicate_window", c.Store.DuplicateWindow)
	between := func(name string, v, lo, hi int64) {
		if v < lo || v > hi {
			bad("%s must be between %d and %d, got %d", name, lo, hi, v)
		}
	}
	between("store.max_batch", int64(c.Store.MaxBatch), 1, maxBatchSize)

	// Writer
	between("writer.workers", int64(c.Writer.Workers), 1, maxWorkers)
	between("writer.max_retries", int64(c.Writer.MaxRetries), 0, maxRetries)
	if q := c.Writer.QueueGroup; q == "" || strings.ContainsAny(q, "*>") || strings.ContainsFunc(q, invisible) {
		bad("writer.queue_group %q must be a non-empty name without spaces, '*' or '>'", q)
	}
	if c.Writer.SnapshotEvery == 0 {
		bad("writer.snapshot_every must be positive, or negative to turn snapshots off, got 0")
	}

	// Projector
	between("projector.batch_size", int64(c.Projector.BatchSize), 1, maxBatchSize)
	between("projector.max_retries", int64(c.Projector.MaxRetries), 0, maxRetries)
	positive("writer.max_queue_wait", c.Writer.MaxQueueWait)
	if life := c.Writer.MaxQueueWait + 2*c.NATS.RequestTimeout; c.Writer.StaleReservation <= life {
		bad("writer.stale_reservation %v must exceed writer.max_queue_wait + 2 × nats.request_timeout (%v): a paused writer could otherwise still append with a name taken over from it",
			c.Writer.StaleReservation, life)
	}
	positive("projector.retry_backoff", c.Projector.RetryBackoff)
	positive("projector.lease_ttl", c.Projector.LeaseTTL)
	positive("projector.fetch_wait", c.Projector.FetchWait)
	if c.Projector.FetchWait > c.Projector.LeaseTTL/leaseRenewals {
		bad("projector.fetch_wait %v must be at most a third of projector.lease_ttl %v", c.Projector.FetchWait, c.Projector.LeaseTTL)
	}
	if _, err := c.Projector.PartitionCounts(); err != nil {
		bad("%v", err)
	}

	// Process
	positive("process.pinned_ttl", c.Process.PinnedTTL)
	if c.Process.PinnedTTL > maxPinnedTTL {
		bad("process.pinned_ttl must be at most %v (the failover time of a process manager), got %v", maxPinnedTTL, c.Process.PinnedTTL)
	}
	if t := c.Process.TransferTimeout; t != 0 && t < time.Second {
		bad("process.transfer_timeout must be 0 (no timeout) or at least 1s (timers fire to the second), got %v", t)
	}

	// Reader
	positive("reader.default_wait", c.Reader.DefaultWait)
	positive("reader.max_wait", c.Reader.MaxWait)
	between("reader.max_waits", int64(c.Reader.MaxWaits), 1, maxWaiters)
	between("reader.ready_lag", int64(c.Reader.ReadyLag), 0, math.MaxInt32)
	positive("reader.poll_interval", c.Reader.PollInterval)
	if c.Reader.DefaultWait > c.Reader.MaxWait {
		bad("reader.default_wait %v must not exceed reader.max_wait %v", c.Reader.DefaultWait, c.Reader.MaxWait)
	}

	// HTTP
	checkAddress(bad, "http.listen", c.HTTP.Listen, true)
	checkAddress(bad, "http.gateway_listen", c.HTTP.GatewayListen, true)
	if l := c.HTTP.Listen; l != "" && l == c.HTTP.GatewayListen && !strings.HasSuffix(l, ":0") {
		bad("http.listen and http.gateway_listen must differ, both are %q", l)
	}
	between("http.max_body_bytes", c.HTTP.MaxBodyBytes, 1, maxBodyBytes)

	// Gateway
	g := c.Gateway
	if (g.TLSCert == "") != (g.TLSKey == "") {
		bad("gateway.tls_cert and gateway.tls_key must be set together, got tls_cert %q and tls_key %q", g.TLSCert, g.TLSKey)
	}
	if g.JWTSecretFile == "" && g.JWTPublicKeyFile == "" {
		for _, s := range []struct{ name, value string }{{"gateway.jwt_issuer", g.JWTIssuer}, {"gateway.jwt_audience", g.JWTAudience}} {
			if s.value != "" {
				bad("%s is set without gateway.jwt_secret_file or gateway.jwt_public_key_file: no JWT would be checked against it", s.name)
			}
		}
	}
	if g.JWTScopeClaim == "" {
		bad("gateway.jwt_scope_claim must not be empty")
	}
	positive("gateway.read_header_timeout", g.ReadHeaderTimeout)
	positive("gateway.read_timeout", g.ReadTimeout)
	positive("gateway.idle_timeout", g.IdleTimeout)
	between("gateway.max_long_polls", int64(g.MaxLongPolls), 1, maxWaiters)

	// Log
	if !slices.Contains(logLevels, c.Log.Level) {
		bad("log.level must be one of %s, got %q", strings.Join(logLevels, ", "), c.Log.Level)
	}
	if !slices.Contains(logFormats, c.Log.Format) {
		bad("log.format must be one of %s, got %q", strings.Join(logFormats, ", "), c.Log.Format)
	}

	// Deployment
	if n := c.Deployment.Name; n != "" && !deploymentName.MatchString(n) {
		bad("deployment.name %q must match [a-z0-9][a-z0-9_-]{0,31}", n)
	}

	// Standalone
	if c.Standalone.DataDir == "" {
		bad("standalone.data_dir must not be empty")
	}
	checkAddress(bad, "standalone.nats_listen", c.Standalone.NATSListen, false)
	if _, _, err := c.Standalone.SyncInterval(); err != nil {
		bad("%s", strings.TrimPrefix(err.Error(), "config: "))
	}

	return errors.Join(errs...)
}

// checkURL reports a URL that does not parse, lacks a host (a socket path
// for unix) or has a scheme other than those given; true when it is fine.
// The message shows the URL without its credentials.
func checkURL(bad func(string, ...any), name, raw string, schemes []string) bool {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Scheme == "":
		bad("%s %q is not a URL like %s://host:port", name, RedactURL(raw), schemes[0])
	case !slices.Contains(schemes, u.Scheme):
		bad("%s %q must use one of the schemes %s", name, RedactURL(raw), strings.Join(schemes, ", "))
	case u.Scheme == "unix" && u.Path == "":
		bad("%s %q must name a socket path, e.g. unix:///run/redis.sock", name, RedactURL(raw))
	case u.Scheme != "unix" && u.Host == "":
		bad("%s %q must name a host, e.g. %s://host:port", name, RedactURL(raw), u.Scheme)
	default:
		return true
	}
	return false
}

// checkAddress reports a listen address that is not host:port with a
// numeric port; empty is allowed when optional (the listener is off).
func checkAddress(bad func(string, ...any), name, addr string, optional bool) {
	if addr == "" && optional {
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		bad("%s %q must be host:port with a numeric port, e.g. 127.0.0.1:8080", name, addr)
	}
}

// streamName returns why name is not a valid JetStream stream name, or "".
func streamName(name string) string {
	switch {
	case name == "":
		return "must not be empty"
	case len(name) > maxNameLen:
		return fmt.Sprintf("is longer than %d bytes", maxNameLen)
	case strings.ContainsAny(name, ".*>/\\") || strings.ContainsFunc(name, invisible):
		return `must not contain spaces, '.', '*', '>', '/' or '\'`
	}
	return ""
}

func invisible(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }
