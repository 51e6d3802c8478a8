package config

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

// reconnectWait is the pause between reconnect attempts to NATS.
const reconnectWait = 250 * time.Millisecond

// Options returns the nats.go options of these settings: name, timeout,
// credentials, TLS, and endless reconnects.
func (n NATS) Options() ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(n.Name),
		nats.Timeout(n.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
	}
	if n.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(n.CredsFile))
	}
	if n.NKeySeedFile != "" {
		opt, err := nats.NkeyOptionFromSeed(n.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("config: nats.nkey_seed_file: %w", err)
		}
		opts = append(opts, opt)
	}
	if n.User != "" {
		opts = append(opts, nats.UserInfo(n.User, n.Password))
	}
	if n.Token != "" {
		opts = append(opts, nats.Token(n.Token))
	}
	if n.TLSCert != "" {
		opts = append(opts, nats.ClientCert(n.TLSCert, n.TLSKey))
	}
	if n.TLSCA != "" {
		opts = append(opts, nats.RootCAs(n.TLSCA))
	}
	return opts, nil
}

// Options returns the go-redis options of these settings.
func (r Redis) Options() (*redis.Options, error) {
	opts, err := redis.ParseURL(r.URL)
	if err != nil {
		return nil, fmt.Errorf("config: redis.url: %w", err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = r.DialTimeout, r.ReadTimeout, r.WriteTimeout
	return opts, nil
}

// Logger returns the slog logger of these settings, writing to w.
func (l Log) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(l.Level))
	ho := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}
