package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/permissions"
)

// nats-config makes a manager user beside the other services' users, with
// the consumers of the process managers -processes names; the projector
// gets them too.
func TestNATSConfigGrantsTheProcessesItNames(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"JETSOURCE_DEPLOYMENT_NAME": "shop"}
	var stdout, stderr bytes.Buffer
	require.NoError(t, run([]string{"nats-config", "-out", dir, "-processes", "transfers,refunds"},
		func(k string) string { return env[k] }, &stdout, &stderr), stderr.String())
	opts, err := server.ProcessConfigFile(filepath.Join(dir, AuthorizationFile))
	require.NoError(t, err)
	users := map[string]*server.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
	}
	for _, r := range append(permissions.Services, permissions.Admin) {
		assert.Contains(t, users, string(r)+"-shop", "a user for role %s", r)
	}
	_, err = os.Stat(filepath.Join(dir, "manager-shop.env"))
	require.NoError(t, err, "the manager's credentials")

	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	require.NoError(t, err)
	d := permissions.DeploymentOf(cfg, nil)
	d.Processes = []string{"transfers", "refunds"}
	for _, r := range []permissions.Role{permissions.Manager, permissions.Projector} {
		p := users[d.ServiceUser(r)].Permissions.Publish.Allow
		for _, process := range d.Processes {
			assert.Contains(t, p, "$JS.API.CONSUMER.MSG.NEXT.EVENTS.jetsource_shop_pm_"+process, "%s follows the events for %s", r, process)
			assert.Contains(t, p, "timers."+process+".at.>", "%s schedules the timers of %s", r, process)
		}
	}
}
