package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/ops"
)

// Deps are what a service process is handed: its settings, connections,
// logger and ops server.
type Deps struct {
	Config config.Config
	NATS   *nats.Conn
	// Redis is nil for a process that does not need it; a
	// *redis.ClusterClient with redis.cluster, else a *redis.Client.
	Redis  redis.UniversalClient
	Log    *slog.Logger
	Health *ops.Server
}

// Needs says which connections a process makes.
type Needs struct {
	// Embedded processes start their own NATS server: no connection is
	// made for them.
	Embedded bool
	Redis    bool
	// Writer connections keep no reconnect buffer: a publish while
	// disconnected fails at once instead of being sent after its command was
	// answered 503.
	Writer bool
	// Gateway processes serve the HTTP gateway, and /readyz with it, on
	// http.gateway_listen.
	Gateway bool
	// UsesRedisURL, when set, reports whether the process uses redis.url
	// (an embedded process does only when one was configured; otherwise its
	// Redis is in-process). When nil, Redis says.
	UsesRedisURL func(cfg config.Config, getenv func(string) string) bool
}

// inUse is cfg as the process uses it, for its start-up log: the URL of a
// server it does not connect to is replaced by what it uses instead
// (embedded, in-process) or "not used", never shown as if it were used.
func (n Needs) inUse(cfg config.Config, getenv func(string) string) config.Config {
	usesRedis := n.Redis
	if n.UsesRedisURL != nil {
		usesRedis = n.UsesRedisURL(cfg, getenv)
	}
	if n.Embedded {
		cfg.NATS.URL = "embedded, on standalone.nats_listen"
	}
	switch {
	case usesRedis:
	case n.Embedded:
		cfg.Redis.URL = "in-process"
	default:
		cfg.Redis.URL = "not used"
	}
	return cfg
}

// Main is the whole main function of a service binary: settings from args
// and the environment, connections, run until SIGINT or SIGTERM, exit code.
// With HealthcheckCommand as its first argument, it checks the running
// process instead (Healthcheck): exit 0 when ready, else 1 and why.
func Main(name string, needs Needs, run func(ctx context.Context, d Deps) error) {
	if len(os.Args) > 1 && os.Args[1] == HealthcheckCommand {
		if err := Healthcheck(context.Background(), os.Args[2:], os.Getenv, needs); err != nil {
			fmt.Fprintf(os.Stderr, "%s %s: %v\n", name, HealthcheckCommand, err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := Start(ctx, name, os.Args[1:], os.Getenv, os.Stderr, needs, run)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// Start loads settings, sets tracing up (StartTracing: off unless the
// OTEL_ environment asks for it), connects and runs until ctx is done.
func Start(ctx context.Context, name string, args []string, getenv func(string) string, logTo io.Writer, needs Needs, run func(ctx context.Context, d Deps) error) error {
	cfg, err := config.Load(args, getenv)
	if err != nil {
		return err
	}
	log := cfg.Log.Logger(logTo).With("service", name)
	log.Info("starting", "config", needs.inUse(cfg, getenv))
	stopTracing, err := StartTracing(ctx, name, getenv, log)
	if err != nil {
		return err
	}
	defer func() {
		// Spans still buffered go out before the process ends.
		flushCtx, cancel := context.WithTimeout(context.Background(), TracingShutdownTimeout)
		defer cancel()
		if err := stopTracing(flushCtx); err != nil {
			log.Warn("tracing not flushed", "error", err)
		}
	}()
	d := Deps{Config: cfg, Log: log, Health: ops.New(log)}
	if !needs.Embedded {
		var extra []nats.Option
		if needs.Writer {
			extra = append(extra, nats.ReconnectBufSize(-1))
		}
		nc, err := connectNATS(ctx, cfg, name, extra, log)
		if err != nil {
			return err
		}
		defer nc.Close()
		d.NATS = nc
	}
	if needs.Redis {
		if d.Redis, err = ConnectRedis(ctx, cfg, log); err != nil {
			return err
		}
		defer d.Redis.Close()
	}
	err = run(ctx, d)
	if err == nil || errors.Is(err, context.Canceled) {
		log.Info("stopped")
		return nil
	}
	return err
}
