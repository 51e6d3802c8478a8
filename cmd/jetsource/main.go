// Command jetsource is the administration tool of a jetsource deployment.
//
//	jetsource events [--at version|time] [--headers] [--json] <type> <id>
//	jetsource state [--at version|time] [--no-snapshot] [--json] <type> <id>
//	jetsource tail [-n count] [--json] [> | <type> | <type>.<id>]
//	jetsource send [--json] <type> <command> <request json>
//	jetsource query [--json] <model> <name> [key=value …]
//	jetsource projections [--json]
//	jetsource rebuild [--json] <projection>
//	jetsource nats-config [-config file] [-out dir] [-nkeys] [-clients a,b] [-projections a,b] [-processes a,b] [-- settings flags]
//	jetsource void [-config file] -reason text <type> <id> <sequence> [-- settings flags]
//
// Every subcommand takes -config and, after "--", the settings flags, and
// reads NATS_URL, REDIS_URL, JETSOURCE_CONFIG and JETSOURCE_* as the
// services do (package config). Output is a table for people, or with
// --json one JSON document (JSON lines for tail and rebuild) for scripts.
// Errors go to stderr with exit code 1; a command line that cannot be read
// exits 2.
//
// events prints an aggregate's history as stored (versions, sequences,
// times, headers, payloads with personal fields opened; a voided event
// names its correction); --at bounds it by a version or an RFC 3339 time.
// state replays the aggregate as the writer loads it, from its snapshot
// unless --no-snapshot, at --at. tail prints the events appended from now
// on. send and query are requests on cmd.<type>.<command> and
// query.<model>.<name> with the contract's JSON (docs/contract.md).
// projections shows each projection's state, generation, checkpoint, lag
// and failed event; rebuild rebuilds one, drawing its progress on stderr
// (JSON lines on stdout with --json). The operations are package admin's.
//
// void appends the correction (EventVoided) that voids an event breaking
// its aggregate's version sequence; see docs/contract.md, "Corrections".
//
// nats-config prints the nats-server authorization block of the deployment
// the settings describe (package config: the same file, JETSOURCE_* variables
// and flags as the services, so deployment.name, store.stream and
// store.snapshot_bucket match theirs): one user per service role (writer,
// projector, reader, gateway, manager, admin) and one per client named with
// -clients, each with the permissions of its role (package permissions).
// -projections names the projections the projectors run (default: the
// sample domains'), -processes the process managers the managers and the
// projectors run (default: the sample domains'). Users get
// generated passwords, stored bcrypt-hashed in the block, or NKeys with
// -nkeys. The secrets go to -out, one file set per user, readable by the
// owner only: <user>.env (NATS_USER and NATS_PASSWORD, or NATS_NKEY, and
// JETSOURCE_NATS_INBOX_PREFIX), <user>.yaml (the same as a JETSOURCE_CONFIG
// settings file), <user>.nk (an NKey seed); with the block in
// authorization.conf. Without -out the passwords are printed once, to
// stderr. -keep leaves an -out that already holds authorization.conf as it
// is (a compose start that runs it again changes no password).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/permissions"
)

// AuthorizationFile is the name of the block in -out.
const AuthorizationFile = "authorization.conf"

// secretMode is the mode of the files that hold a secret.
const secretMode = 0o600

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runContext(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		if err != flag.ErrHelp {
			fmt.Fprintf(os.Stderr, "jetsource: %v\n", err)
		}
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "jetsource: %v\n", err)
		os.Exit(1)
	}
}

// subcommand runs one subcommand with its arguments.
type subcommand func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// subcommands are the subcommands by name, with their synopsis.
var subcommands = []struct {
	name, synopsis string
	run            subcommand
}{
	{"events", "events [--at version|time] [--headers] [--json] <type> <id>", events},
	{"state", "state [--at version|time] [--no-snapshot] [--json] <type> <id>", state},
	{"tail", "tail [-n count] [--json] [> | <type> | <type>.<id>]", tail},
	{"send", "send [--json] <type> <command> <request json>", send},
	{"query", "query [--json] <model> <name> [key=value …]", query},
	{"projections", "projections [--json]", projectionsCmd},
	{"rebuild", "rebuild [--json] <projection>", rebuild},
	{"nats-config", "nats-config [-out dir] [-nkeys] [-clients a,b] [-projections a,b] [-processes a,b] [-keep]", func(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		return natsConfig(args, getenv, stdout, stderr)
	}},
	{"void", "void -reason text <type> <id> <sequence>", func(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		return void(args, getenv, stdout, stderr)
	}},
}

// run runs the command line args, as main does, until it is done.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runContext(context.Background(), args, getenv, stdout, stderr)
}

// runContext runs the command line args until it is done or ctx is (tail
// runs until then).
func runContext(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		for _, c := range subcommands {
			if c.name == args[0] {
				return c.run(ctx, args[1:], getenv, stdout, stderr)
			}
		}
	}
	fmt.Fprintln(stderr, "usage: jetsource <command> [flags] [-- settings flags]   (jetsource <command> -h)")
	for _, c := range subcommands {
		fmt.Fprintf(stderr, "  jetsource %s\n", c.synopsis)
	}
	fmt.Fprintln(stderr, "settings as the services read them: -config file (JETSOURCE_CONFIG), NATS_URL, REDIS_URL, JETSOURCE_*")
	if len(args) > 0 && args[0] != "-h" && args[0] != "-help" && args[0] != "--help" && args[0] != "help" {
		return unknownCommand(args[0])
	}
	return flag.ErrHelp
}

func natsConfig(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("jetsource nats-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "YAML settings `file` of the deployment (env JETSOURCE_CONFIG)")
	out := fs.String("out", "", "`folder` for authorization.conf and each user's credentials; empty: passwords to stderr")
	useNKeys := fs.Bool("nkeys", false, "NKey users instead of passwords (needs -out)")
	clients := fs.String("clients", "", "comma-separated `names` of client users (role client)")
	projections := fs.String("projections", "", "comma-separated `names` of the projections the projectors run (default: the sample domains')")
	processes := fs.String("processes", "", "comma-separated `names` of the process managers the managers (and projectors) run (default: the sample domains')")
	keep := fs.Bool("keep", false, "with -out: if it holds authorization.conf already, change nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	settings := fs.Args()
	if *file != "" {
		settings = append([]string{"-config", *file}, settings...)
	}
	cfg, err := config.Load(settings, getenv)
	if err != nil {
		return err
	}
	if *useNKeys && *out == "" {
		return errors.New("nats-config: -nkeys needs -out (the seeds go to files)")
	}
	if *keep && *out != "" {
		if _, err := os.Stat(filepath.Join(*out, AuthorizationFile)); err == nil {
			fmt.Fprintf(stderr, "nats-config: %s exists: kept as it is\n", filepath.Join(*out, AuthorizationFile))
			return nil
		}
	}
	names := splitList(*projections)
	if len(names) == 0 {
		for _, p := range samples.Projections() {
			names = append(names, p.Name)
		}
	}
	d := permissions.DeploymentOf(cfg, names)
	if d.Processes = splitList(*processes); len(d.Processes) == 0 {
		d.Processes = samples.Platform().ProcessNames()
	}
	creds, err := newUsers(d, splitList(*clients), *useNKeys)
	if err != nil {
		return err
	}
	users := make([]permissions.User, len(creds))
	for i, c := range creds {
		users[i] = c.User
	}
	block, err := d.Authorization(users)
	if err != nil {
		return err
	}
	if *out == "" {
		for _, c := range creds {
			fmt.Fprintf(stderr, "%s (role %s): NATS_USER=%s NATS_PASSWORD=%s JETSOURCE_NATS_INBOX_PREFIX=%s\n",
				c.User.Name, c.User.Role, c.User.Name, c.Password, permissions.InboxPrefix(c.User.Name))
		}
	} else if err := writeAll(*out, block, creds); err != nil {
		return err
	}
	_, err = io.WriteString(stdout, block)
	return err
}

// newUsers makes a user per service role and one per client name.
func newUsers(d permissions.Deployment, clients []string, useNKeys bool) ([]permissions.Credentials, error) {
	newUser := permissions.NewPasswordUser
	if useNKeys {
		newUser = permissions.NewNKeyUser
	}
	var out []permissions.Credentials
	add := func(name string, role permissions.Role) error {
		c, err := newUser(name, role)
		out = append(out, c)
		return err
	}
	for _, r := range append(permissions.Services, permissions.Admin) {
		if err := add(d.ServiceUser(r), r); err != nil {
			return nil, err
		}
	}
	for _, name := range clients {
		if err := add(name, permissions.Client); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// writeAll writes the block and each user's files to dir.
func writeAll(dir, block string, creds []permissions.Credentials) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("nats-config: %w", err)
	}
	for _, c := range creds {
		seedFile := ""
		if c.Seed != nil {
			seedFile = filepath.Join(dir, c.User.Name+".nk")
			if err := os.WriteFile(seedFile, append(c.Seed, '\n'), secretMode); err != nil {
				return fmt.Errorf("nats-config: %w", err)
			}
		}
		settings, err := c.YAML(seedFile)
		if err != nil {
			return fmt.Errorf("nats-config: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.User.Name+".yaml"), settings, secretMode); err != nil {
			return fmt.Errorf("nats-config: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.User.Name+".env"), []byte(c.Env(seedFile)), secretMode); err != nil {
			return fmt.Errorf("nats-config: %w", err)
		}
	}
	// The block last: -keep takes its presence for a complete folder.
	if err := os.WriteFile(filepath.Join(dir, AuthorizationFile), []byte(block), 0o644); err != nil {
		return fmt.Errorf("nats-config: %w", err)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
