package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Bounds of the settings Validate checks.
const (
	maxWorkers   = 4096
	maxBatchSize = 10_000
	maxRetries   = 100
)

// Validate checks every setting and names each bad one with its value.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("config: "+format, args...)) }

	checkURL := func(name, raw string, schemes ...string) {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" && u.Scheme != "unix" {
			bad("%s %q is not a URL", name, raw)
			return
		}
		for _, s := range schemes {
			if u.Scheme == s {
				return
			}
		}
		bad("%s %q must use one of the schemes %s", name, raw, strings.Join(schemes, ", "))
	}
	for _, u := range strings.Split(c.NATS.URL, ",") {
		checkURL("nats.url", strings.TrimSpace(u), "nats", "tls", "ws", "wss")
	}
	checkURL("redis.url", c.Redis.URL, "redis", "rediss", "unix")
	if (c.NATS.TLSCert == "") != (c.NATS.TLSKey == "") {
		bad("nats.tls_cert and nats.tls_key must be set together")
	}
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			bad("%s must be a positive duration, got %v", name, d)
		}
	}
	positive("nats.connect_timeout", c.NATS.ConnectTimeout)
	positive("nats.request_timeout", c.NATS.RequestTimeout)
	positive("redis.dial_timeout", c.Redis.DialTimeout)
	positive("redis.read_timeout", c.Redis.ReadTimeout)
	positive("redis.write_timeout", c.Redis.WriteTimeout)
	positive("store.duplicate_window", c.Store.DuplicateWindow)
	positive("projector.retry_backoff", c.Projector.RetryBackoff)
	positive("reader.default_wait", c.Reader.DefaultWait)
	positive("reader.max_wait", c.Reader.MaxWait)
	if c.Reader.DefaultWait > c.Reader.MaxWait {
		bad("reader.default_wait %v must not exceed reader.max_wait %v", c.Reader.DefaultWait, c.Reader.MaxWait)
	}

	name := func(field, v string) {
		if v == "" || strings.ContainsAny(v, " .*>/\\\t\r\n") {
			bad("%s %q must be a non-empty name without spaces, '.', '*', '>' or path separators", field, v)
		}
	}
	name("store.stream", c.Store.Stream)
	name("store.snapshot_bucket", c.Store.SnapshotBucket)
	name("writer.queue_group", c.Writer.QueueGroup)
	if r := c.Store.Replicas; r != 1 && r != 3 && r != 5 {
		bad("store.replicas must be 1, 3 or 5, got %d", r)
	}
	between := func(field string, v, lo, hi int) {
		if v < lo || v > hi {
			bad("%s must be between %d and %d, got %d", field, lo, hi, v)
		}
	}
	between("store.max_batch", c.Store.MaxBatch, 1, maxBatchSize)
	between("writer.workers", c.Writer.Workers, 1, maxWorkers)
	between("writer.max_retries", c.Writer.MaxRetries, 0, maxRetries)
	between("projector.batch_size", c.Projector.BatchSize, 1, maxBatchSize)
	between("projector.max_retries", c.Projector.MaxRetries, 0, maxRetries)
	if c.Writer.SnapshotEvery == 0 {
		bad("writer.snapshot_every must be positive, or negative to turn snapshots off, got 0")
	}
	if c.HTTP.MaxBodyBytes < 1 {
		bad("http.max_body_bytes must be positive, got %d", c.HTTP.MaxBodyBytes)
	}
	address := func(field, v string, optional bool) {
		if v == "" && optional {
			return
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			bad("%s %q must be host:port", field, v)
		}
	}
	address("http.listen", c.HTTP.Listen, true)
	address("http.gateway_listen", c.HTTP.GatewayListen, true)
	address("standalone.nats_listen", c.Standalone.NATSListen, false)
	if c.Standalone.DataDir == "" {
		bad("standalone.data_dir must not be empty")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format must be text or json, got %q", c.Log.Format)
	}
	return errors.Join(errs...)
}
