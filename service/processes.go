package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/ops"
	"github.com/jetsource/jetsource/process"
	"github.com/jetsource/jetsource/streams"
)

// Bounds of the pause before a process manager that could not start
// (its consumers, its timer stream) tries again.
const (
	processRetryFirst = time.Second
	processRetryMax   = 30 * time.Second
)

// NewManagers builds the platform's process managers on the event store,
// with the deployment's settings: deployment.name in their consumers' names,
// store.replicas for their timer stream, process.pinned_ttl as their
// failover time.
func (p *Platform) NewManagers(cfg config.Config, nc *nats.Conn, store *streams.Store, log *slog.Logger) ([]*process.Manager, error) {
	var out []*process.Manager
	for _, def := range p.processes() {
		if def.New == nil {
			return nil, fmt.Errorf("service: process %s has no New", def.Name)
		}
		pr, err := def.New(store, cfg, log)
		if err != nil {
			return nil, fmt.Errorf("service: process %s: %w", def.Name, err)
		}
		if pr.Name != def.Name {
			return nil, fmt.Errorf("service: process %s builds a process named %q", def.Name, pr.Name)
		}
		m, err := process.New(nc, store, pr, process.Options{Deployment: cfg.Deployment.Name,
			Replicas: cfg.Store.Replicas, PinnedTTL: cfg.Process.PinnedTTL, Logger: log})
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// goManagers runs each manager in g until ctx is done. One that cannot
// start (a consumer or the timer stream refused, JetStream unavailable) is
// logged and tries again with backoff: the projections beside it go on.
func goManagers(ctx context.Context, g *errgroup.Group, ms []*process.Manager, log *slog.Logger) {
	for _, m := range ms {
		g.Go(func() error { return runManager(ctx, m, log) })
	}
}

func runManager(ctx context.Context, m *process.Manager, log *slog.Logger) error {
	wait := processRetryFirst
	for {
		err := m.Run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("stopped")
		}
		log.Error("process manager not running; it tries again (does the NATS user have a process manager's permissions? projector.processes: false leaves it to a binary of its own)",
			"process", m.Name(), "retry_in", wait, "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, processRetryMax)
	}
}

// RunProcesses runs the platform's process managers alone until ctx is
// done: the binary of their own that a deployment with projector.processes
// false runs beside its projectors. Several may run: one instance of each
// manager is active, the others take over when it dies.
func (p *Platform) RunProcesses(ctx context.Context, cfg config.Config, nc *nats.Conn, health *ops.Server, log *slog.Logger) error {
	names := p.ProcessNames()
	if len(names) == 0 {
		return errors.New("service: the platform has no process managers to run")
	}
	store, err := OpenStore(ctx, cfg, nc, log)
	if err != nil {
		return err
	}
	ms, err := p.NewManagers(cfg, nc, store, log)
	if err != nil {
		return err
	}
	health.AddCheck("nats", NATSCheck(nc))
	g, ctx := errgroup.WithContext(ctx)
	goManagers(ctx, g, ms, log)
	ServeOps(ctx, g, cfg, health)
	log.Info("process managers running", "processes", names, "pinned_ttl", cfg.Process.PinnedTTL,
		"transfer_timeout", cfg.Process.TransferTimeout)
	return g.Wait()
}
