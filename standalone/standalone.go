// Package standalone is jetsource's single-process mode: an embedded
// nats-server with JetStream, the writer, the projector (and the process
// managers beside it), the reader and the HTTP gateway in one process, so that one command starts a working
// platform on a bare machine. It is the only package that links the
// nats-server and the in-process Redis; the service binaries do not.
package standalone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/service"
)

const (
	// natsReadyTimeout bounds the embedded server's start.
	natsReadyTimeout = 10 * time.Second
	// servicePoll is how often start-up checks whether a service answers.
	servicePoll = 50 * time.Millisecond
)

// Run runs the whole platform p in one process: an embedded nats-server
// with JetStream (file store under cfg.Standalone.DataDir, so events survive
// restarts), the writer, the projector, the reader and the HTTP gateway.
// Read models go to cfg.Redis.URL when it was configured; otherwise to an
// in-process Redis, and are rebuilt from the event store at each start.
// ready, when set, receives the gateway's address once everything serves.
func Run(ctx context.Context, p *service.Platform, d service.Deps, redisConfigured bool, ready func(gateway net.Addr)) error {
	cfg, log := d.Config, d.Log
	opts, err := embeddedNATSOptions(cfg)
	if err != nil {
		return err
	}
	storeDir := opts.StoreDir
	if err := os.MkdirAll(storeDir, 0o750); err != nil {
		return err
	}
	ns, err := startNATS(opts)
	if err != nil {
		return fmt.Errorf("embedded nats-server on %s: %w", cfg.Standalone.NATSListen, err)
	}
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	natsURL := ns.ClientURL()
	log.Info("embedded NATS with JetStream", "url", natsURL, "store", storeDir, "sync", cfg.Standalone.Sync)

	var rdb redis.UniversalClient
	if redisConfigured {
		if rdb, err = service.ConnectRedis(ctx, cfg, log); err != nil {
			return err
		}
		log.Info("read models in Redis", "url", config.RedactURL(cfg.Redis.URL))
	} else {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("in-process redis: %w", err)
		}
		defer mr.Close()
		rdb = redis.NewClient(&redis.Options{Addr: mr.Addr()})
		log.Warn("no REDIS_URL given: read models live in memory (an in-process Redis) and are rebuilt from the event store at each start",
			"redis", mr.Addr())
	}
	defer rdb.Close()

	connect := func(name string, writer bool) (*nats.Conn, error) {
		opts := append([]nats.Option{nats.Name("jetsource-" + name), nats.MaxReconnects(-1)}, service.NATSEventLogging(log)...)
		if writer {
			opts = append(opts, nats.ReconnectBufSize(-1))
		}
		return nats.Connect(natsURL, opts...)
	}
	wnc, err := connect("writer", true)
	if err != nil {
		return err
	}
	defer wnc.Close()
	nc, err := connect("standalone", false)
	if err != nil {
		return err
	}
	defer nc.Close()

	g, ctx := errgroup.WithContext(ctx)
	// One process, one health and metrics listener: the services share the
	// ops server and only this function binds http.listen.
	service.ServeOps(ctx, g, cfg, d.Health)
	cfg.HTTP.Listen = ""
	g.Go(func() error { return p.RunWriter(ctx, cfg, wnc, d.Health, log.With("service", "writer")) })
	g.Go(func() error { return p.RunProjector(ctx, cfg, nc, rdb, d.Health, log.With("service", "projector")) })
	g.Go(func() error { return p.RunReader(ctx, cfg, nc, rdb, d.Health, log.With("service", "reader")) })
	addrs := make(chan net.Addr, 1)
	g.Go(func() error {
		return p.RunGateway(ctx, cfg, nc, d.Health, log.With("service", "gateway"), func(a net.Addr) { addrs <- a })
	})
	g.Go(func() error {
		var a net.Addr
		select {
		case a = <-addrs:
		case <-ctx.Done():
			return nil
		}
		// Say it runs once the writer and the reader answer.
		for _, svc := range []string{"jetsource-writer", "jetsource-reader"} {
			for {
				if _, err := nc.Request("$SRV.PING."+svc, nil, time.Second); err == nil {
					break
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(servicePoll):
				}
			}
		}
		log.Info("jetsource is running", "http", "http://"+a.String(), "nats", natsURL,
			"commands", "POST http://"+a.String()+"/v1/commands/{type}/{command}",
			"queries", "GET http://"+a.String()+"/v1/queries/{model}/{name}?…")
		if ready != nil {
			ready(a)
		}
		return nil
	})
	return g.Wait()
}

// startNATS starts an embedded nats-server and waits until it takes
// connections. A server that cannot start (its port is taken) says why only
// through its logger, and would just never be ready: its fatal error is
// caught and returned at once instead.
func startNATS(opts *server.Options) (*server.Server, error) {
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	fatal := &fatalLog{}
	ns.SetLogger(fatal, false, false)
	ns.Start()
	deadline := time.Now().Add(natsReadyTimeout)
	for !ns.ReadyForConnections(servicePoll) {
		if msg := fatal.message(); msg != "" || time.Now().After(deadline) {
			ns.Shutdown()
			ns.WaitForShutdown()
			if msg == "" {
				msg = fmt.Sprintf("not ready within %v", natsReadyTimeout)
			}
			return nil, errors.New(msg)
		}
	}
	return ns, nil
}

// fatalLog is the embedded server's logger: quiet, as NoLog asks, but for
// the fatal error it keeps (a listener that could not be opened).
type fatalLog struct {
	mu    sync.Mutex
	fatal string
}

func (l *fatalLog) message() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatal
}

// Fatalf keeps the first fatal error; the server goes on to wait, not exit.
func (l *fatalLog) Fatalf(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fatal == "" {
		l.fatal = fmt.Sprintf(format, v...)
	}
}

func (*fatalLog) Noticef(string, ...any) {}
func (*fatalLog) Warnf(string, ...any)   {}
func (*fatalLog) Errorf(string, ...any)  {}
func (*fatalLog) Debugf(string, ...any)  {}
func (*fatalLog) Tracef(string, ...any)  {}

// embeddedNATSOptions are the options of the single-process mode's
// nats-server: JetStream with a file store under the data folder, on the
// configured address, syncing to disk as configured (always by default:
// acknowledged means on disk).
func embeddedNATSOptions(cfg config.Config) (*server.Options, error) {
	host, portStr, err := net.SplitHostPort(cfg.Standalone.NATSListen)
	if err != nil {
		return nil, fmt.Errorf("standalone.nats_listen: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("standalone.nats_listen: %w", err)
	}
	if port == 0 {
		port = server.RANDOM_PORT // ":0" means any free port, as for the HTTP listeners
	}
	interval, always, err := cfg.Standalone.SyncInterval()
	if err != nil {
		return nil, err
	}
	return &server.Options{ServerName: "jetsource-standalone", Host: host, Port: port,
		JetStream: true, StoreDir: filepath.Join(cfg.Standalone.DataDir, "nats"), NoSigs: true, NoLog: true,
		SyncAlways: always, SyncInterval: interval}, nil
}

// Main is the whole main function of a single-process binary of platform
// p: settings from the command line and the environment, read models in the
// Redis they name (redis.url, REDIS_URL …) or else in an in-process Redis,
// run until SIGINT or SIGTERM.
func Main(name string, p *service.Platform) {
	service.Main(name, needs, func(ctx context.Context, d service.Deps) error {
		return Run(ctx, p, d, RedisConfigured(d.Config, os.Getenv), nil)
	})
}

// needs are the single-process mode's: its own NATS, and the Redis of
// redis.url only when one was configured.
var needs = service.Needs{Embedded: true, Gateway: true, UsesRedisURL: RedisConfigured}

// RedisConfigured reports whether the settings name a Redis of their own
// (any of the config file, JETSOURCE_REDIS_URL, REDIS_URL, -redis-url),
// rather than leaving the default.
func RedisConfigured(cfg config.Config, getenv func(string) string) bool {
	return cfg.Redis.URL != config.Default().Redis.URL || getenv("REDIS_URL") != "" || getenv("JETSOURCE_REDIS_URL") != ""
}
