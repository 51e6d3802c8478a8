package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/service"
	"github.com/jetsource/jetsource/streams"
)

// void appends the correction that voids an event breaking its aggregate's
// history (a forged or repeated version):
//
//	jetsource void [-config file] -reason text <type> <id> <sequence> [-- settings flags]
//
// It connects as the settings say (an admin user: only the admin and the
// writer may publish events), appends EventVoided and prints the
// correction's position. Projections that stopped on the event resume after
// a rebuild (jetsource.projector.rebuild.<projection>) or a restart.
func void(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("jetsource void", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "YAML settings `file` of the deployment (env JETSOURCE_CONFIG)")
	reason := fs.String("reason", "", "why the event is voided, kept in the stream for ever (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	var settings []string
	for i, a := range rest {
		if a == "--" {
			rest, settings = rest[:i], rest[i+1:]
			break
		}
	}
	if len(rest) != 3 || *reason == "" {
		return fmt.Errorf("void: usage: jetsource void -reason text <type> <id> <sequence> [-- settings flags]")
	}
	seq, err := strconv.ParseUint(rest[2], 10, 64)
	if err != nil || seq == 0 {
		return fmt.Errorf("void: sequence %q must be a positive integer", rest[2])
	}
	ref, err := streams.NewRef(rest[0], rest[1])
	if err != nil {
		return fmt.Errorf("void: %w", err)
	}
	if *file != "" {
		settings = append([]string{"-config", *file}, settings...)
	}
	cfg, err := config.Load(settings, getenv)
	if err != nil {
		return err
	}
	opts, err := cfg.NATS.Options()
	if err != nil {
		return err
	}
	nc, err := nats.Connect(cfg.NATS.URL, append(opts, nats.Name("jetsource-admin"))...)
	if err != nil {
		return fmt.Errorf("void: connect to NATS at %s: %w", config.RedactURL(cfg.NATS.URL), err)
	}
	defer nc.Close()
	ctx := context.Background()
	layout, err := service.Layout(cfg)
	if err != nil {
		return err
	}
	store, err := streams.Open(ctx, nc, streams.WithStream(cfg.Store.Stream), streams.WithLayout(layout), streams.WithSnapshotBucket(cfg.Store.SnapshotBucket),
		streams.WithReplicas(cfg.Store.Replicas), streams.WithTimeout(cfg.NATS.RequestTimeout))
	if err != nil {
		return err
	}
	res, err := store.VoidEvent(ctx, ref, streams.Sequence(seq), strings.TrimSpace(*reason))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "voided %s sequence %d: correction at version %d, sequence %d\n", ref, seq, res.Position.Version, res.Position.Sequence)
	return nil
}
