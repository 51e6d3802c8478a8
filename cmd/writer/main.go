// Command writer serves jetsource commands: the jetsource-writer NATS micro
// service with the sample aggregates (account, order, product, user). It
// provisions the event store, serves until SIGINT or SIGTERM, then drains:
// commands in flight are finished and answered, and it exits 0.
//
//	writer [-config file] [-nats-url url] [-workers n] [-http-listen addr] …
//
// Settings: package config (file, JETSOURCE_* and NATS_URL, flags).
package main

import (
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/service"
)

func main() {
	service.Main("writer", service.Needs{Writer: true}, samples.Platform().Writer)
}
