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
	"context"

	"github.com/jetsource/jetsource/service"
)

func main() {
	service.Main("writer", service.Needs{Writer: true}, func(ctx context.Context, d service.Deps) error {
		return service.RunWriter(ctx, d.Config, d.NATS, d.Health, d.Log)
	})
}
