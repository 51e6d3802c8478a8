package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetsource/jetsource/admin"
	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/service"
	"github.com/jetsource/jetsource/streams"
)

// usageError is a command line that does not say what to do: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Is makes errors.Is(err, flag.ErrHelp) true, as for -h.
func (e usageError) Is(target error) bool { return target == flag.ErrHelp }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// command is the common part of the admin subcommands: flags, settings and
// connections.
type command struct {
	name   string
	fs     *flag.FlagSet
	file   *string
	asJSON *bool
	// at is the --at flag of the commands that time travel.
	at *string
	// usage is the synopsis shown on a usage error.
	usage string
	// settings are the settings flags after "--".
	settings []string
	getenv   func(string) string
	stdout   io.Writer
	stderr   io.Writer
}

func newCommand(name, usage string, getenv func(string) string, stdout, stderr io.Writer) *command {
	fs := flag.NewFlagSet("jetsource "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &command{name: name, fs: fs, usage: usage, getenv: getenv, stdout: stdout, stderr: stderr}
	c.file = fs.String("config", "", "YAML settings `file` of the deployment (env JETSOURCE_CONFIG)")
	c.asJSON = fs.Bool("json", false, "JSON for scripts instead of a table")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: jetsource %s\n", usage)
		fs.PrintDefaults()
	}
	return c
}

// parse parses flags anywhere among the arguments (before "--", after which
// come the settings flags of package config) and checks the number of
// positional arguments, between least and most (-1: any).
func (c *command) parse(args []string, least, most int) ([]string, error) {
	for i, a := range args {
		if a == "--" {
			args, c.settings = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			return nil, err
		}
		args = c.fs.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	if len(pos) < least || (most >= 0 && len(pos) > most) {
		return nil, usagef("%s: usage: jetsource %s", c.name, c.usage)
	}
	return pos, nil
}

// withAt adds the --at flag: a version or an RFC 3339 time.
func (c *command) withAt(usage string) { c.at = c.fs.String("at", "", usage) }

// start parses args (see parse) and --at, then connects (see connect).
func (c *command) start(ctx context.Context, args []string, least, most int, withRedis bool) ([]string, streams.Until, *session, error) {
	pos, err := c.parse(args, least, most)
	if err != nil {
		return nil, streams.Until{}, nil, err
	}
	var until streams.Until
	if c.at != nil {
		if until, err = untilOf(*c.at); err != nil {
			return nil, until, nil, err
		}
	}
	s, err := c.connect(ctx, withRedis)
	return pos, until, s, err
}

// session is an open connection to the deployment.
type session struct {
	*admin.Client
	close func()
}

// connect loads the settings as the services do (package config: -config
// or JETSOURCE_CONFIG, NATS_URL, REDIS_URL, JETSOURCE_* and the settings
// flags) and connects to NATS and, when withRedis, to Redis.
func (c *command) connect(ctx context.Context, withRedis bool) (*session, error) {
	settings := c.settings
	if *c.file != "" {
		settings = append([]string{"-config", *c.file}, settings...)
	}
	cfg, err := config.Load(settings, c.getenv)
	if err != nil {
		return nil, err
	}
	opts, err := cfg.NATS.Options()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(cfg.NATS.URL, append(opts, nats.Name("jetsource-admin"))...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", config.RedactURL(cfg.NATS.URL), err)
	}
	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := service.OpenStoreOnce(ctx, cfg, nc, log)
	if err != nil {
		nc.Close()
		return nil, err
	}
	s := &session{close: nc.Close}
	if withRedis {
		rdb, err := service.OpenRedis(cfg)
		if err != nil {
			nc.Close()
			return nil, err
		}
		pctx, cancel := context.WithTimeout(ctx, cfg.Redis.DialTimeout+cfg.Redis.ReadTimeout)
		defer cancel()
		if err := rdb.Ping(pctx).Err(); err != nil {
			rdb.Close()
			nc.Close()
			return nil, fmt.Errorf("connect to Redis at %s: %w", config.RedactURL(cfg.Redis.URL), err)
		}
		s.Client = samples.Platform().Admin(cfg, nc, store, rdb)
		s.close = func() { rdb.Close(); nc.Close() }
		return s, nil
	}
	s.Client = samples.Platform().Admin(cfg, nc, store, nil)
	return s, nil
}

// untilOf parses --at: a version (a positive integer) or an RFC 3339 time.
func untilOf(at string) (streams.Until, error) {
	if at == "" {
		return streams.Until{}, nil
	}
	if v, err := strconv.ParseUint(at, 10, 64); err == nil {
		if v == 0 {
			return streams.Until{}, usagef("--at 0: versions start at 1")
		}
		return streams.Until{Version: streams.Version(v)}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return streams.Until{}, usagef("--at %q: want a version (a positive integer) or an RFC 3339 time such as 2026-11-25T15:04:05Z", at)
	}
	return streams.Until{Time: t}, nil
}

// events prints an aggregate's history.
func events(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("events", "events [--at version|time] [--headers] [--json] <type> <id> [-- settings flags]", getenv, stdout, stderr)
	c.withAt("show the history up to this `version or RFC 3339 time`")
	headers := c.fs.Bool("headers", false, "a column with every header of each event")
	pos, until, s, err := c.start(ctx, args, 2, 2, false)
	if err != nil {
		return err
	}
	defer s.close()
	history, err := s.History(ctx, pos[0], pos[1], until)
	if err != nil {
		return err
	}
	if *c.asJSON {
		if history == nil {
			history = []admin.Event{}
		}
		return writeJSON(stdout, history)
	}
	if len(history) == 0 {
		fmt.Fprintf(stdout, "%s/%s has no events%s\n", pos[0], pos[1], boundText(until))
		return nil
	}
	return printHistory(stdout, history, *headers)
}

func boundText(u streams.Until) string {
	switch {
	case u.Version != 0:
		return fmt.Sprintf(" up to version %d", u.Version)
	case !u.Time.IsZero():
		return " as of " + u.Time.Format(time.RFC3339Nano)
	}
	return ""
}

// state prints an aggregate's replayed state.
func state(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("state", "state [--at version|time] [--no-snapshot] [--json] <type> <id> [-- settings flags]", getenv, stdout, stderr)
	c.withAt("the state at this `version or RFC 3339 time`")
	noSnapshot := c.fs.Bool("no-snapshot", false, "replay every event instead of starting from the snapshot")
	pos, until, s, err := c.start(ctx, args, 2, 2, false)
	if err != nil {
		return err
	}
	defer s.close()
	st, err := s.State(ctx, pos[0], pos[1], until, !*noSnapshot)
	if err != nil {
		return err
	}
	if *c.asJSON {
		return writeJSON(stdout, st)
	}
	return printState(stdout, st, until)
}

// tail prints the events appended from now on.
func tail(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("tail", "tail [-n count] [--json] [> | <type> | <type>.<id>] [-- settings flags]", getenv, stdout, stderr)
	count := c.fs.Int("n", 0, "stop after `count` events (0: until interrupted)")
	pos, err := c.parse(args, 0, 1)
	if err != nil {
		return err
	}
	if *count < 0 {
		return usagef("tail: -n %d: want a count of 0 or more", *count)
	}
	filter := ""
	if len(pos) == 1 {
		filter = pos[0]
	}
	subject, err := admin.TailSubject(filter)
	if err != nil {
		return err
	}
	s, err := c.connect(ctx, false)
	if err != nil {
		return err
	}
	defer s.close()
	live, err := s.Tail(ctx, filter)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "tailing %s from now on (interrupt to stop)\n", subject)
	seen := 0
	for ev, err := range live {
		if err != nil {
			return err
		}
		if *c.asJSON {
			err = writeJSONLine(stdout, ev)
		} else {
			err = printTailed(stdout, ev)
		}
		if err != nil {
			return err
		}
		if seen++; *count > 0 && seen >= *count {
			break
		}
	}
	return nil
}

// send sends a command.
func send(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("send", `send [--json] <type> <command> '{"aggregate_id": "…", "data": {…}}' [-- settings flags]`, getenv, stdout, stderr)
	pos, _, s, err := c.start(ctx, args, 3, 3, false)
	if err != nil {
		return err
	}
	defer s.close()
	reply, err := s.Send(ctx, pos[0], pos[1], []byte(pos[2]))
	if err != nil {
		return c.refusal(err)
	}
	if *c.asJSON {
		return writeJSON(stdout, reply)
	}
	return printSent(stdout, reply)
}

// query sends a query.
func query(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("query", "query [--json] <model> <name> [key=value …] [-- settings flags]", getenv, stdout, stderr)
	pos, err := c.parse(args, 2, -1)
	if err != nil {
		return err
	}
	params, err := admin.QueryParams(pos[2:])
	if err != nil {
		return usagef("query: %v", err)
	}
	s, err := c.connect(ctx, false)
	if err != nil {
		return err
	}
	defer s.close()
	reply, err := s.Query(ctx, pos[0], pos[1], params)
	if err != nil {
		return c.refusal(err)
	}
	if *c.asJSON {
		return writeJSON(stdout, reply)
	}
	return printAnswer(stdout, reply)
}

// refusal writes a service's refusal as the contract's error body on
// stdout for scripts (--json) and returns it.
func (c *command) refusal(err error) error {
	var re *admin.ReplyError
	if *c.asJSON && errors.As(err, &re) {
		if werr := writeJSON(c.stdout, map[string]any{"error": re}); werr != nil {
			return werr
		}
	}
	return err
}

// projectionsCmd prints the status of each projection.
func projectionsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("projections", "projections [--json] [-- settings flags]", getenv, stdout, stderr)
	_, _, s, err := c.start(ctx, args, 0, 0, true)
	if err != nil {
		return err
	}
	defer s.close()
	list, err := s.Projections(ctx)
	if err != nil {
		return err
	}
	if *c.asJSON {
		return writeJSON(stdout, list)
	}
	return printProjections(stdout, list)
}

// rebuild rebuilds a projection with a progress line on stderr.
func rebuild(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("rebuild", "rebuild [--json] <projection> [-- settings flags]", getenv, stdout, stderr)
	pos, _, s, err := c.start(ctx, args, 1, 1, true)
	if err != nil {
		return err
	}
	defer s.close()
	name := pos[0]
	var last [2]uint64
	bar := newProgressLine(stderr, "rebuild "+name)
	err = s.Rebuild(ctx, name, func(done, total uint64) {
		last = [2]uint64{done, total}
		if *c.asJSON {
			_ = writeJSONLine(stdout, map[string]any{"projection": name, "done": done, "total": total})
			return
		}
		bar.show(done, total)
	})
	if !*c.asJSON {
		bar.end()
	}
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("interrupted: the rebuild of %s goes on in the projector (jetsource projections shows it)", name)
	}
	if err != nil {
		return c.refusal(err)
	}
	if *c.asJSON {
		return writeJSONLine(stdout, map[string]any{"rebuilt": name, "done": last[0], "total": last[1]})
	}
	fmt.Fprintf(stdout, "rebuilt %s: %d of %d stream sequences\n", name, last[0], last[1])
	return nil
}

// writeJSON writes v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeJSONLine writes v as one line of JSON.
func writeJSONLine(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

// notRunning tells an unknown subcommand apart.
func unknownCommand(name string) error {
	return usagef("unknown command %q (jetsource -h lists them)", strings.TrimSpace(name))
}
