package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

// reconnectWait is the pause between two reconnect attempts to NATS; short,
// since a process without NATS can do nothing useful.
const reconnectWait = 250 * time.Millisecond

// Options returns the nats.go options of these settings: the connection
// name, the connect timeout, the credentials, TLS, and reconnects that never
// give up. Pass them to nats.Connect with URL.
//
// The files named (credentials, NKey seed, TLS certificate, key and CA) are
// read now, so that a missing or bad file is reported by the setting that
// names it rather than as a failed connection; nats.go reads them again at
// each connect, which picks up rotated files.
func (n NATS) Options() ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Timeout(n.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
	}
	if n.Name != "" {
		opts = append(opts, nats.Name(n.Name))
	}
	var errs []error
	if n.CredsFile != "" {
		if err := readable(n.CredsFile); err != nil {
			errs = append(errs, fmt.Errorf("config: nats.creds_file: %w", err))
		}
		opts = append(opts, nats.UserCredentials(n.CredsFile))
	}
	if n.NKeySeedFile != "" {
		opt, err := nats.NkeyOptionFromSeed(n.NKeySeedFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("config: nats.nkey_seed_file: %w", err))
		}
		opts = append(opts, opt)
	}
	if n.User != "" {
		opts = append(opts, nats.UserInfo(n.User, n.Password))
	}
	if n.Token != "" {
		opts = append(opts, nats.Token(n.Token))
	}
	if n.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(n.InboxPrefix))
	}
	// The TLS options load their files when applied: apply them once to
	// scratch options to report a bad file by its setting.
	var scratch nats.Options
	if n.TLSCert != "" || n.TLSKey != "" {
		opt := nats.ClientCert(n.TLSCert, n.TLSKey)
		if err := opt(&scratch); err != nil {
			errs = append(errs, fmt.Errorf("config: nats.tls_cert and nats.tls_key: %w", err))
		}
		opts = append(opts, opt)
	}
	if n.TLSCA != "" {
		opt := nats.RootCAs(n.TLSCA)
		if err := opt(&scratch); err != nil {
			errs = append(errs, fmt.Errorf("config: nats.tls_ca: %w", err))
		}
		opts = append(opts, opt)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return opts, nil
}

func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// Options returns the go-redis options of these settings: those of URL
// (address, credentials, database, TLS for rediss), with the timeouts of
// these settings. Pass them to redis.NewClient.
func (r Redis) Options() (*redis.Options, error) {
	opts, err := redis.ParseURL(r.URL)
	if err != nil {
		// A url.Error quotes the whole URL, password included: keep its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("config: redis.url %q: %w", RedactURL(r.URL), err)
	}
	opts.DialTimeout = r.DialTimeout
	opts.ReadTimeout = r.ReadTimeout
	opts.WriteTimeout = r.WriteTimeout
	return opts, nil
}

// ClusterOptions returns the go-redis options of a Redis Cluster
// (Cluster): the address of each URL as a seed node, and the credentials,
// TLS and URL options of the first, with the timeouts of these settings.
// Pass them to redis.NewClusterClient. Every URL must use the same
// credentials and TLS, and database 0 (a cluster has no other).
func (r Redis) ClusterOptions() (*redis.ClusterOptions, error) {
	var first *redis.Options
	var addrs []string
	for _, raw := range strings.Split(r.URL, ",") {
		one := Redis{URL: strings.TrimSpace(raw)}
		if strings.HasPrefix(one.URL, "unix:") {
			return nil, fmt.Errorf("config: redis.url %q: a Redis Cluster is reached over TCP: use redis:// or rediss:// URLs", RedactURL(one.URL))
		}
		opts, err := one.Options()
		if err != nil {
			return nil, err
		}
		if opts.DB != 0 {
			return nil, fmt.Errorf("config: redis.url %q: a Redis Cluster has database 0 only, not %d", RedactURL(one.URL), opts.DB)
		}
		if first == nil {
			first = opts
		} else if opts.Username != first.Username || opts.Password != first.Password || (opts.TLSConfig == nil) != (first.TLSConfig == nil) {
			return nil, fmt.Errorf("config: redis.url %q: every node of a Redis Cluster is reached with the same credentials and scheme as the first", RedactURL(one.URL))
		}
		addrs = append(addrs, opts.Addr)
	}
	return &redis.ClusterOptions{
		Addrs:           addrs,
		ClientName:      first.ClientName,
		Protocol:        first.Protocol,
		Username:        first.Username,
		Password:        first.Password,
		MaxRetries:      first.MaxRetries,
		MinRetryBackoff: first.MinRetryBackoff,
		MaxRetryBackoff: first.MaxRetryBackoff,
		DialTimeout:     r.DialTimeout,
		ReadTimeout:     r.ReadTimeout,
		WriteTimeout:    r.WriteTimeout,
		PoolFIFO:        first.PoolFIFO,
		PoolSize:        first.PoolSize,
		PoolTimeout:     first.PoolTimeout,
		MinIdleConns:    first.MinIdleConns,
		MaxIdleConns:    first.MaxIdleConns,
		MaxActiveConns:  first.MaxActiveConns,
		ConnMaxIdleTime: first.ConnMaxIdleTime,
		ConnMaxLifetime: first.ConnMaxLifetime,
		TLSConfig:       first.TLSConfig,
	}, nil
}

// Logger returns the slog logger of these settings, writing to w. A level
// or format Validate would refuse falls back to info and text.
func (l Log) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		level = slog.LevelInfo
	}
	ho := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}
