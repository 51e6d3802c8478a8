// Command bench runs the Event Store Benchmark Suite's scenarios
// (github.com/pyeventsourcing/eventstore-benchmarks, configs/scenarios)
// against jetsource through its NATS API, and checks that every
// acknowledged write reads back.
//
//	bench -standalone                     # both scenarios, an in-process platform
//	bench -standalone -scenario cqrs-read-model -duration 20s -json
//	NATS_URL=nats://… bench               # a deployment that runs bench.Domain()
//	bench -serve [-- settings flags]      # serve the bench domain beside a deployment
//
// Run bench -h for the flags and for how each scenario maps onto the
// platform.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/jetsource/jetsource/bench"
	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case errors.Is(err, errFailed):
		os.Exit(1)
	case err != nil:
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// errFailed means a run completed but its consistency check failed (the
// report says how).
var errFailed = errors.New("consistency check failed")

const usageText = `Usage: bench [flags]
       bench -serve [-- settings flags]

Runs the Event Store Benchmark Suite's scenarios (pyeventsourcing/eventstore-benchmarks,
configs/scenarios) through jetsource's NATS API, prints each scenario's operations,
throughput, p50/p95/p99 of writes and reads, errors and a consistency check, with a
progress line on stderr while it runs. Exit status 1 when a check fails.

Scenarios:
  microservices-aggregate  8 writers, 512-byte events, 60 s; each writer appends to a stream
                           of its own and starts a new one every 10 events.
  cqrs-read-model          30,000 events preloaded in 8,000 streams (4 each, one append per
                           stream, 10 at once), then 120 s of 4 writers (each operation a
                           write of a 384-byte event with probability 0.15, else a read) and 24
                           readers (always reads); a read takes the first 50 events of a stream
                           chosen uniformly (-zipf for hot streams).

How they map onto the platform (deviations from the suite):
  - an append is a command: the first event of a stream cmd.bench.start, the others
    cmd.bench.append {"payload"}, no expected_version (the writer retries conflicts); the
    event body is {"payload":"<token>xxx…"} of exactly the scenario's size, the suite's a
    zero-filled binary payload; headers (type, version, time, ids) come on top.
  - a read of a stream is query.bench.stream {id, limit 50}: the projection's copy of the
    stream in Redis, not the event store itself, so it may lag the writes.
  - the suite's mixed mode reads streams its setup never wrote (prefix mismatch) and so reads
    nothing; here reads and writes go to the preloaded streams.
  - throughput is operations/s (and events/s, the suite's measure) after the first second,
    as the suite counts it; latencies are of acknowledged operations, writes and reads
    apart (the suite mixes them in one histogram and also times failed reads).
  - the consistency check is this command's own (the suite's is a stub): every acknowledged
    event (the setup's too) is read back from the stream at its sequence (subject, version,
    body) and through query.bench.stream (version, sequence, body).

The platform: -standalone starts one in this process (embedded nats-server syncing every
write, the platform's writer, projector, reader; read models in REDIS_URL when given, else
in an in-process Redis) with the sample domains and the bench domain. Without it, bench
connects to NATS_URL (and the usual NATS_* credentials); that deployment must run the bench
domain: service.New(yourDomains..., bench.Domain()), or bench -serve beside it.

Flags:
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "-serve" {
		rest := args[1:]
		if len(rest) > 0 && rest[0] == "--" {
			rest = rest[1:]
		}
		return serve(ctx, rest, getenv, stderr)
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageText); fs.PrintDefaults() }
	scenario := fs.String("scenario", "all", "`name` of the scenario to run: microservices-aggregate, cqrs-read-model or all")
	standaloneMode := fs.Bool("standalone", false, "run an in-process platform (embedded NATS, temporary data dir) instead of connecting to NATS_URL")
	dataDir := fs.String("data-dir", "", "with -standalone, the `folder` of the event store (default: a temporary one, removed afterwards)")
	asJSON := fs.Bool("json", false, "print the reports as JSON, one array")
	quiet := fs.Bool("quiet", false, "no progress line")
	duration := fs.Duration("duration", 0, "run each scenario this long (default: the scenario's)")
	ops := fs.Int64("ops", 0, "stop each scenario after this many operations (default: no bound)")
	writers := fs.Int("writers", -1, "writers (default: the scenario's)")
	readers := fs.Int("readers", -1, "readers (mixed scenario; default: the scenario's)")
	eventSize := fs.Int("event-size", 0, "event size in `bytes` (default: the scenario's)")
	preload := fs.Int("preload", 0, "events preloaded (mixed scenario; default: the scenario's)")
	streams := fs.Int("streams", 0, "streams preloaded (mixed scenario; default: the scenario's)")
	writeProb := fs.Float64("write-probability", -1, "chance that a writer's operation is a write (mixed scenario)")
	readBatch := fs.Int("read-batch", 0, "events per read (mixed scenario; default: the scenario's)")
	streamLength := fs.Int("stream-length", 0, "events per stream before a writer starts a new one (write scenario)")
	zipf := fs.Float64("zipf", 0, "pick the mixed scenario's streams with a Zipf distribution of this exponent `s` (> 1) instead of uniformly")
	timeout := fs.Duration("timeout", bench.DefaultTimeout, "bound of one request")
	seed := fs.Uint64("seed", 1, "seed of the workers' random choices")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (see -h)", fs.Args())
	}
	scenarios := bench.Scenarios()
	if *scenario != "all" {
		s, err := bench.ScenarioNamed(*scenario)
		if err != nil {
			return err
		}
		scenarios = []bench.Scenario{s}
	}
	for i := range scenarios {
		s := &scenarios[i]
		setIf(&s.Duration, *duration, *duration > 0)
		setIf(&s.Writers, *writers, *writers >= 0)
		setIf(&s.EventSize, *eventSize, *eventSize > 0)
		setIf(&s.WriteProbability, *writeProb, *writeProb >= 0)
		setIf(&s.Zipf, *zipf, *zipf != 0)
		if s.Mixed() {
			setIf(&s.Readers, *readers, *readers >= 0)
			setIf(&s.PreloadEvents, *preload, *preload > 0)
			setIf(&s.PreloadStreams, *streams, *streams > 0)
			setIf(&s.ReadBatch, *readBatch, *readBatch > 0)
		} else {
			setIf(&s.StreamLength, *streamLength, *streamLength > 0)
		}
		if err := s.Validate(); err != nil {
			return err
		}
	}
	if *ops < 0 || *timeout <= 0 {
		return fmt.Errorf("-ops %d must not be negative and -timeout %v must be positive", *ops, *timeout)
	}

	nc, stopPlatform, err := connect(ctx, *standaloneMode, *dataDir, getenv, stderr)
	if err != nil {
		return err
	}
	defer stopPlatform()
	defer nc.Close()

	opts := bench.Options{MaxOps: *ops, Timeout: *timeout, Seed: *seed}
	if !*quiet {
		opts.Progress = stderr
	}
	var reports []*bench.Report
	failed := false
	for _, s := range scenarios {
		r, err := bench.Run(ctx, nc, s, opts)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", s.Name, err)
		}
		reports = append(reports, r)
		failed = failed || r.Consistency == nil || !r.Consistency.Passed
		if !*asJSON {
			r.Print(stdout)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reports); err != nil {
			return err
		}
	}
	if failed {
		return errFailed
	}
	return nil
}

func setIf[T any](dst *T, v T, given bool) {
	if given {
		*dst = v
	}
}

// connect connects to the platform: an in-process one with -standalone,
// else the deployment the settings (NATS_URL …) name.
func connect(ctx context.Context, standaloneMode bool, dataDir string, getenv func(string) string, stderr io.Writer) (*nats.Conn, func(), error) {
	if !standaloneMode {
		cfg, err := config.Load(nil, getenv)
		if err != nil {
			return nil, nil, err
		}
		opts, err := cfg.NATS.Options()
		if err != nil {
			return nil, nil, err
		}
		nc, err := nats.Connect(cfg.NATS.URL, append(opts, nats.Name("jetsource-bench"))...)
		if err != nil {
			return nil, nil, fmt.Errorf("connect to NATS at %s: %w", config.RedactURL(cfg.NATS.URL), err)
		}
		return nc, func() {}, nil
	}
	cleanup := func() {}
	if dataDir == "" {
		dir, err := os.MkdirTemp("", "jetsource-bench-")
		if err != nil {
			return nil, nil, err
		}
		dataDir, cleanup = dir, func() { _ = os.RemoveAll(dir) }
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := bench.StartStandalone(ctx, platform(), dataDir, redisURL(getenv), log)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	nc, err := nats.Connect(p.NATSURL, nats.Name("jetsource-bench"))
	if err != nil {
		_ = p.Stop()
		cleanup()
		return nil, nil, err
	}
	return nc, func() {
		if err := p.Stop(); err != nil {
			fmt.Fprintf(stderr, "bench: stopping the in-process platform: %v\n", err)
		}
		cleanup()
	}, nil
}

// platform is the sample domains and the bench domain.
func platform() *service.Platform {
	return service.New(append(samples.Domains(), bench.Domain())...)
}

// redisURL is the Redis of -standalone's read models: REDIS_URL or
// JETSOURCE_REDIS_URL, or none (the in-process Redis).
func redisURL(getenv func(string) string) string {
	if u := getenv("JETSOURCE_REDIS_URL"); u != "" {
		return u
	}
	return getenv("REDIS_URL")
}

// serve runs the bench domain's writer, projector and reader against the
// deployment the settings name, until SIGINT or SIGTERM.
func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	p := service.New(bench.Domain())
	return service.Start(ctx, "bench", args, getenv, stderr, service.Needs{Redis: true, Writer: true},
		func(ctx context.Context, d service.Deps) error {
			g, ctx := errgroup.WithContext(ctx)
			g.Go(func() error { return p.RunWriter(ctx, d.Config, d.NATS, d.Health, d.Log.With("service", "writer")) })
			g.Go(func() error {
				return p.RunProjector(ctx, d.Config, d.NATS, d.Redis, d.Health, d.Log.With("service", "projector"))
			})
			g.Go(func() error {
				return p.RunReader(ctx, d.Config, d.NATS, d.Redis, d.Health, d.Log.With("service", "reader"))
			})
			return g.Wait()
		})
}
