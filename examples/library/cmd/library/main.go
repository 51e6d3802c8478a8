// Command library runs the library example in one process: an embedded
// nats-server with JetStream (events in ./data), the writer, the projector,
// the reader and the HTTP gateway on http://127.0.0.1:8080. Read models go
// to REDIS_URL when it is set, otherwise to an in-process Redis rebuilt from
// the events at each start. Settings as for the platform's binaries
// (package config: -config file, JETSOURCE_* variables, flags).
//
//	go run ./cmd/library
//	curl -X POST localhost:8080/v1/commands/book/add -d '{"aggregate_id":"b-1","data":{"title":"Dune"}}'
//	curl -X POST localhost:8080/v1/commands/book/lend -d '{"aggregate_id":"b-1","data":{"member":"ada"}}'
//	curl 'localhost:8080/v1/queries/library/loans?member=ada&min_sequence=2'
package main

import (
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/service"
	"github.com/jetsource/jetsource/standalone"

	"example.com/library"
)

func main() {
	standalone.Main("library", service.New(service.Domain{
		Aggregates:  []service.Aggregate{service.AggregateOf(library.Definition())},
		Projections: []projections.Projection{library.Projection()},
		Queries:     library.Queries(),
	}))
}
