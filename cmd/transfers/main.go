// Command transfers runs the money transfer sample (accounts and transfers)
// in one of its roles:
//
//	transfers writer    [flags]  the commands of account and transfer
//	transfers projector [flags]  the accounts and transfers read models
//	transfers reader    [flags]  their queries (account.get, account.list,
//	                             account.transfers, transfer.get)
//	transfers manager   [flags]  the transfer process manager
//
// The shipped binaries (writer, projector, reader, standalone) serve the
// same sample among the others, the projector running the process manager
// beside its projections; this one keeps the manager in a process of its
// own: its projector role never runs it (projector.processes is false there).
//
// Flags and environment are those of the other services (package config).
// The manager's timeout is process.transfer_timeout
// (JETSOURCE_PROCESS_TRANSFER_TIMEOUT or JETSOURCE_TRANSFER_TIMEOUT, a Go
// duration, default 30s; 0 turns timeouts off) and its failover time
// process.pinned_ttl (JETSOURCE_PROCESS_PINNED_TTL, default 5s). Several
// managers may run: one is active (a pinned JetStream consumer), the others
// take over when it dies. Each role stops cleanly on SIGINT or SIGTERM, and
// a SIGKILL of the manager at any moment loses nothing and doubles nothing.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/service"
)

// Platform is the transfer sample: accounts and transfers.
func Platform() *service.Platform { return service.New(samples.Account(), samples.Transfer()) }

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
		service.Main("transfers-projector", service.Needs{Redis: true}, func(ctx context.Context, d service.Deps) error {
			d.Config.Projector.Processes = false // the manager role runs them
			return p.Projector(ctx, d)
		})
	case "reader":
		service.Main("transfers-reader", service.Needs{Redis: true}, p.Reader)
	case "manager":
		service.Main("transfers-manager", service.Needs{}, p.Processes)
	default:
		fmt.Fprintf(os.Stderr, "transfers: unknown role %q: use writer, projector, reader or manager\n", role)
		os.Exit(2)
	}
}
