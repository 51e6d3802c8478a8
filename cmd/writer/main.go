// Command writer serves jetsource commands: the jetsource-writer NATS micro
// service with the sample aggregates (account, order, product, user). It
// provisions the event store, serves until SIGINT or SIGTERM, then drains:
// commands in flight are finished and answered, and it exits 0.
//
//	writer [-config file] [-nats-url url] [-workers n] [-http-listen addr] …
//
// Settings: package config (file, JETSOURCE_* and NATS_URL/REDIS_URL, flags).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/ops"
	"github.com/jetsource/jetsource/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cfg, err := config.Load(args, os.Getenv)
	if err != nil {
		return err
	}
	log := cfg.Log.Logger(os.Stderr)
	log.Info("writer starting", "config", cfg)
	opts, err := cfg.NATS.Options()
	if err != nil {
		return err
	}
	// No reconnect buffer: a publish while disconnected fails at once, and
	// is never sent after its command was answered 503.
	nc, err := nats.Connect(cfg.NATS.URL, append(opts, nats.ReconnectBufSize(-1))...)
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", cfg.NATS.URL, err)
	}
	defer nc.Close()
	health := ops.New(log)
	return service.RunWriter(ctx, cfg, nc, health, log)
}
