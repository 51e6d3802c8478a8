package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/config"
)

// Start-up retry pacing: the first pause and the longest one.
const (
	startupBackoffFirst = 250 * time.Millisecond
	startupBackoffMax   = 5 * time.Second
)

// ErrRedisAuth means Redis refused the credentials of the configured URL: a
// setting to fix, not a server to wait for.
var ErrRedisAuth = errors.New("redis refused the credentials in redis.url (REDIS_URL): check the user and password")

// connectNATS connects to NATS, trying again with backoff until the
// startup timeout while the server cannot be reached (start order is not
// readiness: in docker-compose the services may start before NATS listens).
// A refused login fails at once. The connection logs every disconnect,
// reconnect, change of server list and asynchronous error once.
func connectNATS(ctx context.Context, cfg config.Config, name string, extra []nats.Option, log *slog.Logger) (*nats.Conn, error) {
	opts, err := cfg.NATS.Options()
	if err != nil {
		return nil, err
	}
	opts = append(opts, extra...)
	opts = append(opts, nats.Name("jetsource-"+name))
	opts = append(opts, NATSEventLogging(log)...)
	url := config.RedactURL(cfg.NATS.URL)
	var nc *nats.Conn
	err = retryStartup(ctx, cfg.NATS.StartupTimeout, log, "NATS", url, func() error {
		var cerr error
		nc, cerr = nats.Connect(cfg.NATS.URL, opts...)
		if cerr != nil && (errors.Is(cerr, nats.ErrAuthorization) || errors.Is(cerr, nats.ErrAuthExpired) ||
			errors.Is(cerr, nats.ErrAuthRevoked) || strings.Contains(strings.ToLower(cerr.Error()), "authorization violation")) {
			return permanent{cerr}
		}
		return cerr
	})
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	log.Info("connected to NATS", "server", nc.ConnectedUrlRedacted(), "server_id", nc.ConnectedServerId())
	return nc, nil
}

// NATSEventLogging are connection options that log what happens to the
// connection: each event once, as it happens.
func NATSEventLogging(log *slog.Logger) []nats.Option {
	return []nats.Option{
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err == nil || nc.IsClosed() {
				return // closed on purpose, not lost
			}
			log.Warn("NATS disconnected; reconnecting", "server", nc.ConnectedUrlRedacted(), "error", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS reconnected", "server", nc.ConnectedUrlRedacted(), "server_id", nc.ConnectedServerId())
		}),
		nats.DiscoveredServersHandler(func(nc *nats.Conn) {
			log.Info("NATS servers changed", "servers", nc.DiscoveredServers())
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			if err := nc.LastError(); err != nil {
				log.Warn("NATS connection closed", "error", err)
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			attrs := []any{"error", err}
			if sub != nil {
				attrs = append(attrs, "subject", sub.Subject)
			}
			log.Warn("NATS asynchronous error", attrs...)
		}),
	}
}

// ConnectRedis returns a client of the configured Redis once it answers PING,
// trying again with backoff until the startup timeout while it cannot be
// reached; refused credentials fail at once with ErrRedisAuth. The client
// logs when Redis starts failing and when it answers again, once per change.
// With redis.cluster it is a cluster client, connected once every master
// answers.
func ConnectRedis(ctx context.Context, cfg config.Config, log *slog.Logger) (redis.UniversalClient, error) {
	rdb, err := OpenRedis(cfg)
	if err != nil {
		return nil, err
	}
	url := config.RedactURL(cfg.Redis.URL)
	err = retryStartup(ctx, cfg.NATS.StartupTimeout, log, "Redis", url, func() error {
		pctx, cancel := context.WithTimeout(ctx, cfg.Redis.DialTimeout+cfg.Redis.ReadTimeout)
		defer cancel()
		perr := pingRedis(pctx, rdb)
		if isRedisAuthError(perr) {
			return permanent{fmt.Errorf("%w (%v)", ErrRedisAuth, perr)}
		}
		return perr
	})
	if err != nil {
		rdb.Close()
		return nil, fmt.Errorf("connect to Redis at %s: %w", url, err)
	}
	rdb.AddHook(&redisHealthLog{log: log})
	log.Info("connected to Redis", "url", url, "cluster", cfg.Redis.Cluster)
	return rdb, nil
}

func isRedisAuthError(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, p := range []string{"WRONGPASS", "NOAUTH", "invalid password", "invalid username-password"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// permanent marks a start-up error that waiting will not cure.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// retryStartup calls try until it succeeds, fails permanently, ctx ends or
// timeout passes, pausing with exponential backoff; it logs the first failure
// and the recovery, not every attempt.
func retryStartup(ctx context.Context, timeout time.Duration, log *slog.Logger, what, where string, try func() error) error {
	deadline := time.Now().Add(timeout)
	pause := startupBackoffFirst
	for attempt := 1; ; attempt++ {
		err := try()
		if err == nil {
			if attempt > 1 {
				log.Info(what+" reachable", "at", where, "attempts", attempt)
			}
			return nil
		}
		var p permanent
		if errors.As(err, &p) {
			return p.err
		}
		if time.Now().Add(pause).After(deadline) {
			return fmt.Errorf("not reachable within %v (nats.startup_timeout): %w", timeout, err)
		}
		if attempt == 1 {
			log.Warn(what+" not reachable yet; retrying", "at", where, "for", timeout, "error", err)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		pause = min(pause*2, startupBackoffMax)
	}
}

// redisHealthLog logs Redis failing and recovering, once per change, rather
// than once per failed command.
type redisHealthLog struct {
	log     *slog.Logger
	failing atomic.Bool
}

func (h *redisHealthLog) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		h.observe(err)
		return c, err
	}
}

func (h *redisHealthLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.observe(err)
		return err
	}
}

func (h *redisHealthLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.observe(err)
		return err
	}
}

// observe tracks connection-level failures only: a Redis error reply (a
// WATCH abort, a script error) says the server is there.
func (h *redisHealthLog) observe(err error) {
	var rerr redis.Error
	switch {
	case err == nil || errors.Is(err, redis.Nil) || errors.Is(err, redis.TxFailedErr) || errors.As(err, &rerr) ||
		errors.Is(err, context.Canceled):
		if h.failing.CompareAndSwap(true, false) {
			h.log.Info("Redis answers again")
		}
	default:
		if h.failing.CompareAndSwap(false, true) {
			h.log.Warn("Redis not answering", "error", err)
		}
	}
}
