// Package samples composes the sample domains (account, order, product,
// user) into the platform the shipped binaries run. A deployment of one's own
// domains does the same in its own main: service.New with its domains.
package samples

import (
	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/order"
	"github.com/jetsource/jetsource/domain/product"
	"github.com/jetsource/jetsource/domain/user"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/service"
)

// Domains are the sample domains, each with its aggregate, projection and
// queries.
func Domains() []service.Domain {
	return []service.Domain{
		{Aggregates: []service.Aggregate{service.AggregateOf(account.Definition())},
			Projections: []projections.Projection{account.Projection()}, Queries: account.Queries()},
		{Aggregates: []service.Aggregate{service.AggregateOf(order.Definition())},
			Projections: []projections.Projection{order.Projection()}, Queries: order.Queries()},
		{Aggregates: []service.Aggregate{service.AggregateOf(product.Definition())},
			Projections: []projections.Projection{product.Projection()}, Queries: product.Queries()},
		{Aggregates: []service.Aggregate{service.AggregateOf(user.Definition())},
			Projections: []projections.Projection{user.Projection()}, Queries: user.Queries()},
	}
}

// Platform is the platform of the sample domains.
func Platform() *service.Platform { return service.New(Domains()...) }

// Projections are the sample domains' projections.
func Projections() []projections.Projection {
	return []projections.Projection{account.Projection(), order.Projection(), product.Projection(), user.Projection()}
}
