// Command projector keeps the Redis read models of the sample domains up to
// date from the event stream, and rebuilds one on request on
// jetsource.projector.rebuild.<name>. Several projectors may run: one is
// active per projection, the others take over when it dies. It stops
// cleanly on SIGINT or SIGTERM; a SIGKILL at any moment leaves correct read
// models (each batch and its checkpoint are one Redis transaction).
//
// Beside the projections it runs the sample domains' process manager (the
// money transfer's), one instance active among the projectors, unless
// projector.processes is false (JETSOURCE_PROJECTOR_PROCESSES=false): then
// `transfers manager` runs it.
//
//	projector [-config file] [-nats-url url] [-redis-url url] [-batch-size n] …
package main

import (
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/service"
)

func main() {
	service.Main("projector", service.Needs{Redis: true}, samples.Platform().Projector)
}
