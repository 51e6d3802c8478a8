// Command transfers runs the money transfer sample (accounts and transfers)
// in one of its roles:
//
//	transfers writer    [flags]  the commands of account and transfer
//	transfers projector [flags]  the accounts and transfers read models
//	transfers reader    [flags]  their queries (account.get, account.list,
//	                             account.transfers, transfer.get)
//	transfers manager   [flags]  the transfer process manager
//
// Flags and environment are those of the other services (package config).
// The manager's timeout is JETSOURCE_TRANSFER_TIMEOUT (a Go duration,
// default 30s; 0 turns timeouts off) and its failover time
// JETSOURCE_PROCESS_PINNED_TTL (default 5s). Several managers may run: one
// is active (a pinned JetStream consumer), the others take over when it
// dies. Each role stops cleanly on SIGINT or SIGTERM, and a SIGKILL of the
// manager at any moment loses nothing and doubles nothing.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/transfer"
	"github.com/jetsource/jetsource/process"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/service"
)

// Platform is the transfer sample: accounts and transfers.
func Platform() *service.Platform {
	return service.New(
		service.Domain{Aggregates: []service.Aggregate{service.AggregateOf(account.Definition())},
			Projections: []projections.Projection{account.Projection()}, Queries: account.Queries()},
		service.Domain{Aggregates: []service.Aggregate{service.AggregateOf(transfer.Definition())},
			Projections: []projections.Projection{transfer.Projection()}, Queries: transfer.Queries()},
	)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: transfers writer|projector|reader|manager [flags]")
		os.Exit(2)
	}
	role := os.Args[1]
	os.Args = append(os.Args[:1], os.Args[2:]...)
	p := Platform()
	switch role {
	case "writer":
		service.Main("transfers-writer", service.Needs{Writer: true}, p.Writer)
	case "projector":
		service.Main("transfers-projector", service.Needs{Redis: true}, p.Projector)
	case "reader":
		service.Main("transfers-reader", service.Needs{Redis: true}, p.Reader)
	case "manager":
		service.Main("transfers-manager", service.Needs{}, manage)
	default:
		fmt.Fprintf(os.Stderr, "transfers: unknown role %q: use writer, projector, reader or manager\n", role)
		os.Exit(2)
	}
}

func manage(ctx context.Context, d service.Deps) error {
	timeout, err := duration("JETSOURCE_TRANSFER_TIMEOUT", 30*time.Second)
	if err != nil {
		return err
	}
	pinned, err := duration("JETSOURCE_PROCESS_PINNED_TTL", 5*time.Second)
	if err != nil {
		return err
	}
	store, err := service.OpenStore(ctx, d.Config, d.NATS, d.Log)
	if err != nil {
		return err
	}
	p, err := transfer.Process(store, timeout)
	if err != nil {
		return err
	}
	m, err := process.New(d.NATS, store, p, process.Options{Deployment: d.Config.Deployment.Name,
		Replicas: d.Config.Store.Replicas, PinnedTTL: pinned, Logger: d.Log})
	if err != nil {
		return err
	}
	d.Log.Info("transfer process manager running", "timeout", timeout, "pinned_ttl", pinned)
	return m.Run(ctx)
}

func duration(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%q: want a non-negative Go duration such as 30s", name, v)
	}
	return d, nil
}
