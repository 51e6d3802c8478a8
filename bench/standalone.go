package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/ops"
	"github.com/jetsource/jetsource/service"
	"github.com/jetsource/jetsource/standalone"
)

// standaloneStart bounds the in-process platform's start.
const standaloneStart = 30 * time.Second

// Platform is a running in-process platform (see StartStandalone).
type Platform struct {
	// NATSURL is its embedded nats-server's client URL.
	NATSURL string
	cancel  context.CancelFunc
	done    chan error
}

// Stop stops the platform and waits for it.
func (p *Platform) Stop() error {
	p.cancel()
	err := <-p.done
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// StartStandalone starts platform pl in this process, as the
// single-process mode runs it (package standalone): an embedded nats-server
// with JetStream storing in dataDir and syncing every write (sync always),
// the writer, the projector, the reader and the gateway (on a random
// loopback port). Read models go to redisURL, or to the in-process Redis
// when it is empty. It returns once the writer and the reader answer.
func StartStandalone(ctx context.Context, pl *service.Platform, dataDir, redisURL string, log *slog.Logger) (*Platform, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := config.Default()
	cfg.Standalone.DataDir = dataDir
	cfg.Standalone.NATSListen = fmt.Sprintf("127.0.0.1:%d", port)
	cfg.HTTP.GatewayListen = "127.0.0.1:0"
	if redisURL != "" {
		cfg.Redis.URL = redisURL
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &Platform{NATSURL: fmt.Sprintf("nats://127.0.0.1:%d", port), cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		p.done <- standalone.Run(ctx, pl, service.Deps{Config: cfg, Log: log, Health: ops.New(log)}, redisURL != "",
			func(net.Addr) { close(ready) })
	}()
	select {
	case <-ready:
		return p, nil
	case err := <-p.done:
		cancel()
		return nil, fmt.Errorf("in-process platform: %w", err)
	case <-time.After(standaloneStart):
		_ = p.Stop()
		return nil, fmt.Errorf("in-process platform not ready within %v", standaloneStart)
	}
}

// freePort asks the system for a free loopback port for the embedded
// nats-server (standalone.Run takes a fixed address).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
