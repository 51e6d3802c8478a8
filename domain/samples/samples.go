// Package samples composes the sample domains (account, order, product,
// user, and the money transfer between accounts with its process manager)
// into the platform the shipped binaries run. A deployment of one's own
// domains does the same in its own main: service.New with its domains.
package samples

import (
	"log/slog"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/order"
	"github.com/jetsource/jetsource/domain/product"
	"github.com/jetsource/jetsource/domain/transfer"
	"github.com/jetsource/jetsource/domain/user"
	"github.com/jetsource/jetsource/process"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/service"
	"github.com/jetsource/jetsource/streams"
)

// Domains are the sample domains, each with its aggregate, projection and
// queries; the transfer domain with its process manager too.
func Domains() []service.Domain {
	return []service.Domain{Account(), Order(), Product(), User(), Transfer()}
}

// Account is the account domain: open, deposit, withdraw, freeze.
func Account() service.Domain {
	return service.Domain{Aggregates: []service.Aggregate{service.AggregateOf(account.Definition())},
		Projections: []projections.Projection{account.Projection()}, Queries: account.Queries()}
}

// Order is the order domain.
func Order() service.Domain {
	return service.Domain{Aggregates: []service.Aggregate{service.AggregateOf(order.Definition())},
		Projections: []projections.Projection{order.Projection()}, Queries: order.Queries()}
}

// Product is the product domain.
func Product() service.Domain {
	return service.Domain{Aggregates: []service.Aggregate{service.AggregateOf(product.Definition())},
		Projections: []projections.Projection{product.Projection()}, Queries: product.Queries()}
}

// User is the user domain.
func User() service.Domain {
	return service.Domain{Aggregates: []service.Aggregate{service.AggregateOf(user.Definition())},
		Projections: []projections.Projection{user.Projection()}, Queries: user.Queries()}
}

// Transfer is the money transfer between two accounts (it needs Account):
// the transfer aggregate, its read model (transfer.get, account.transfers)
// and the process manager that moves the money (TransferProcess).
func Transfer() service.Domain {
	return service.Domain{Aggregates: []service.Aggregate{service.AggregateOf(transfer.Definition())},
		Projections: []projections.Projection{transfer.Projection()}, Queries: transfer.Queries(),
		Processes: []service.Process{TransferProcess()}}
}

// TransferProcess is the transfer process manager (transfer.Process), its
// timeout process.transfer_timeout.
func TransferProcess() service.Process {
	return service.Process{Name: transfer.ProcessName,
		New: func(store *streams.Store, cfg config.Config, _ *slog.Logger) (process.Process, error) {
			return transfer.Process(store, cfg.Process.TransferTimeout)
		}}
}

// Platform is the platform of the sample domains.
func Platform() *service.Platform { return service.New(Domains()...) }

// Projections are the sample domains' projections.
func Projections() []projections.Projection {
	var out []projections.Projection
	for _, d := range Domains() {
		out = append(out, d.Projections...)
	}
	return out
}
