// Command jetsource is the administration tool of a jetsource deployment.
//
//	jetsource nats-config [-config file] [-out dir] [-nkeys] [-clients a,b] [-- settings flags]
//	jetsource void [-config file] -reason text <type> <id> <sequence> [-- settings flags]
//
// void appends the correction (EventVoided) that voids an event breaking
// its aggregate's version sequence; see docs/contract.md, "Corrections".
//
// nats-config prints the nats-server authorization block of the deployment
// the settings describe (package config: the same file, JETSOURCE_* variables
// and flags as the services, so deployment.name, store.stream and
// store.snapshot_bucket match theirs): one user per service role (writer,
// projector, reader, gateway, admin) and one per client named with -clients,
// each with the permissions of its role (package permissions). Users get
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
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/permissions"
)

// AuthorizationFile is the name of the block in -out.
const AuthorizationFile = "authorization.conf"

// secretMode is the mode of the files that hold a secret.
const secretMode = 0o600

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "jetsource: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	switch {
	case len(args) > 0 && args[0] == "nats-config":
		return natsConfig(args[1:], getenv, stdout, stderr)
	case len(args) > 0 && args[0] == "void":
		return void(args[1:], getenv, stdout, stderr)
	}
	fmt.Fprintln(stderr, "usage: jetsource nats-config [flags] [-- settings flags]   (jetsource nats-config -h)")
	fmt.Fprintln(stderr, "       jetsource void -reason text <type> <id> <sequence> [-- settings flags]")
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
