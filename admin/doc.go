// Package admin holds the operations an operator of a jetsource deployment
// runs against it: read an aggregate's history and its state at any version
// or instant, follow the events live, send a command or a query as a client
// would, see each projection's generation, lag and failed event, and
// rebuild a projection while watching its progress. The jetsource command
// (cmd/jetsource) and the gateway's event browser are both built on it.
//
// A Client holds the connections and the deployment's names; the platform
// that runs the domains (package service) builds one with its aggregates
// and projections, so that this package knows no domain:
//
//	c := platform.Admin(cfg, nc, store, rdb)
//	history, err := c.History(ctx, "order", "7dd8", streams.Until{Version: 3})
//	state, err := c.State(ctx, "order", "7dd8", streams.Until{Version: 3}, true)
//
// Reads go to the event store as the services' loads do (personal fields
// opened, or null once forgotten); commands and queries go over NATS
// request-reply on the subjects of docs/contract.md, so an operator sees
// what a client would.
package admin
