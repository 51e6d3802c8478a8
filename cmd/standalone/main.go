// Command standalone runs the whole jetsource platform in one process: an
// embedded nats-server with JetStream (file store in -data-dir, default
// ./data), the writer, the projector, the reader and the HTTP gateway (default
// http://127.0.0.1:8080). Read models go to REDIS_URL when it is given;
// otherwise to an in-process Redis, rebuilt from the events at each start.
// Everything listens on loopback unless configured otherwise.
//
//	go run ./cmd/standalone
package main

import (
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/standalone"
)

func main() { standalone.Main("standalone", samples.Platform()) }
