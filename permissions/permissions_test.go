package permissions_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/permissions"
)

var shop = permissions.Deployment{Name: "shop", Stream: "SHOP_EVENTS", SnapshotBucket: "SHOP_SNAPSHOTS", Projections: []string{"accounts"},
	Processes: []string{"transfers"}}

// allowed reports whether one of the filters covers subject, and none of
// deny does.
func allowed(subject string, filters, deny []string) bool {
	match := func(f string) bool { return server.SubjectMatchesFilter(subject, f) }
	return slices.ContainsFunc(filters, match) && !slices.ContainsFunc(deny, match)
}

func TestEachRoleMayDoOnlyWhatItNeeds(t *testing.T) {
	cases := []struct {
		role    permissions.Role
		publish map[string]bool
		receive map[string]bool
	}{
		{permissions.Writer,
			map[string]bool{"events.account.a": true, "$KV.UNIQUE_shop.user.bob": true, "$JS.API.DIRECT.GET.SHOP_EVENTS": true,
				"$JS.API.STREAM.MSG.GET.SHOP_EVENTS": true, "jetsource.shop.projector.rebuild.accounts": false, "$JS.API.STREAM.DELETE.SHOP_EVENTS": false,
				// A long load's ephemeral consumer, never a named one.
				"$JS.API.CONSUMER.CREATE.SHOP_EVENTS": true, "$JS.FC.SHOP_EVENTS.AbC.x": true, "$JS.FC._.HASH.SHOP_EVENTS.AbC.x": true,
				"$JS.API.CONSUMER.CREATE.SHOP_EVENTS.jetsource_shop_proj_accounts":          false,
				"$JS.API.CONSUMER.CREATE.SHOP_EVENTS.jetsource_shop_proj_accounts.events.>": false,
				"$JS.API.CONSUMER.DELETE.SHOP_EVENTS.jetsource_shop_proj_accounts":          false},
			map[string]bool{"cmd.user.register": true, "_INBOX.writer-shop.x": true, "_INBOX.alice.x": false, "query.account.get": false}},
		{permissions.Projector,
			map[string]bool{"events.account.a": false, "$JS.API.CONSUMER.CREATE.SHOP_EVENTS.jetsource_shop_proj_accounts": true,
				"$JS.API.CONSUMER.MSG.NEXT.SHOP_EVENTS.jetsource_shop_rebuild_accounts": true, "$JS.API.CONSUMER.DELETE.SHOP_EVENTS.other": false,
				"$KV.SNAPSHOTS.account.a": false,
				// The live queries' notices of its deployment.
				"jetsource.shop.live.notice.accounts": true, "jetsource.live.notice.accounts": false, "live.answer_shop.account.get.x": false,
				// The process managers' rights (it may run them).
				"cmd.account.deposit": true, "$JS.API.CONSUMER.MSG.NEXT.SHOP_EVENTS.jetsource_shop_pm_transfers": true,
				"timers.transfers.at.transfer.t1": true, "timers.transfers.fired.transfer.t1": false,
				"$JS.API.CONSUMER.CREATE.TIMERS.jetsource_shop_pm_transfers_timers": true, "$JS.API.STREAM.MSG.DELETE.TIMERS": true,
				"$JS.API.STREAM.PURGE.TIMERS": false, "$JS.API.CONSUMER.CREATE.SHOP_EVENTS.jetsource_shop_pm_other": false},
			map[string]bool{"jetsource.shop.projector.rebuild.accounts": true, "jetsource.projector.rebuild.accounts": false, "cmd.user.register": false, "events.account.a": false,
				"jetsource.shop.projector.status": true}},
		{permissions.Reader,
			map[string]bool{"events.account.a": false, "$JS.API.STREAM.INFO.SHOP_EVENTS": true, "cmd.account.open": false,
				"$JS.API.CONSUMER.INFO.SHOP_EVENTS.jetsource_shop_proj_accounts": true, "$JS.API.CONSUMER.DELETE.SHOP_EVENTS.jetsource_shop_proj_accounts": false,
				"$JS.API.CONSUMER.MSG.NEXT.SHOP_EVENTS.jetsource_shop_proj_accounts": false,
				// Live queries: the answers of its deployment and their stream.
				"live.answer_shop.account.get.0123": true, "live.answer.account.get.0123": false, "live.account.get": false,
				"$JS.API.STREAM.CREATE.LIVE_shop": true, "$JS.API.DIRECT.GET.LIVE_shop.live.answer_shop.account.get.0123": true,
				"$JS.API.STREAM.DELETE.LIVE_shop": false, "jetsource.shop.live.notice.accounts": false},
			map[string]bool{"query.account.get": true, "cmd.user.register": false, "_INBOX.alice.x": false,
				"live.account.get": true, "jetsource.shop.live.notice.accounts": true, "jetsource.other.live.notice.accounts": false,
				"live.answer_shop.account.get.0123": false}},
		{permissions.Manager,
			map[string]bool{"cmd.account.deposit": true, "query.account.get": false, "events.account.a": false, "_INBOX.x": false,
				"$JS.API.DIRECT.GET.SHOP_EVENTS": true, "$JS.API.DIRECT.GET.KV_SHOP_SNAPSHOTS.$KV.SHOP_SNAPSHOTS.transfer.t1": true,
				"$KV.SHOP_SNAPSHOTS.transfer.t1":                                           false,
				"$JS.API.CONSUMER.CREATE.SHOP_EVENTS.jetsource_shop_pm_transfers":          true,
				"$JS.API.CONSUMER.CREATE.SHOP_EVENTS.jetsource_shop_pm_transfers.events.>": true,
				"$JS.ACK.SHOP_EVENTS.jetsource_shop_pm_transfers.1.2.3.4.5.6.7":            true,
				"$JS.API.CONSUMER.CREATE.SHOP_EVENTS.jetsource_pm_transfers":               false,
				"$JS.API.CONSUMER.CREATE.SHOP_EVENTS.jetsource_shop_proj_accounts":         false,
				"$JS.API.STREAM.CREATE.TIMERS":                                             true, "$JS.API.STREAM.MSG.DELETE.TIMERS": true, "$JS.API.STREAM.PURGE.TIMERS": false,
				"$JS.API.STREAM.MSG.DELETE.SHOP_EVENTS": false,
				"timers.transfers.at.transfer.t1":       true, "timers.transfers.fired.transfer.t1": false, "timers.other.at.transfer.t1": false,
				"$JS.API.CONSUMER.MSG.NEXT.TIMERS.jetsource_shop_pm_transfers_timers": true,
				"jetsource.shop.live.notice.accounts":                                 false, "live.answer_shop.account.get.0123": false},
			map[string]bool{"_INBOX.manager-shop.x": true, "_INBOX.alice.x": false, "cmd.account.open": false, "events.account.a": false,
				"timers.transfers.fired.transfer.t1": false}},
		{permissions.Client,
			map[string]bool{"cmd.user.register": true, "query.account.get": true, "events.account.a": false, "_INBOX.bob.x": false,
				"jetsource.shop.projector.rebuild.accounts": false, "jetsource.projector.rebuild.accounts": false, "$JS.API.STREAM.INFO.SHOP_EVENTS": false,
				// Live queries: subscribe, and follow the answers' stream.
				"live.account.get": true, "$JS.API.CONSUMER.CREATE.LIVE_shop.abc.live.answer_shop.account.get.0123": true,
				"$JS.API.CONSUMER.MSG.NEXT.LIVE_shop.abc": true, "live.answer_shop.account.get.0123": false,
				"$JS.API.STREAM.CREATE.LIVE_shop": false, "jetsource.shop.live.notice.accounts": false,
				"$JS.API.CONSUMER.CREATE.SHOP_EVENTS.abc": false},
			map[string]bool{"_INBOX.alice.x": true, "_INBOX.bob.x": false, "cmd.user.register": false, "events.account.a": false}},
		{permissions.Admin,
			map[string]bool{"jetsource.shop.projector.rebuild.accounts": true, "events.account.a": true},
			map[string]bool{"cmd.user.register": false, "cmd.account.open": true}},
	}
	for _, tc := range cases {
		t.Run(string(tc.role), func(t *testing.T) {
			user := "alice"
			if tc.role != permissions.Client {
				user = shop.ServiceUser(tc.role)
			}
			p, err := shop.For(tc.role, user)
			require.NoError(t, err)
			for subject, want := range tc.publish {
				assert.Equal(t, want, allowed(subject, p.Publish, nil), "%s publishes to %s", tc.role, subject)
			}
			for subject, want := range tc.receive {
				assert.Equal(t, want, allowed(subject, p.Subscribe, p.SubscribeDeny), "%s receives %s", tc.role, subject)
			}
		})
	}
}

func TestAuthorizationIsReadByNATSServerWithHashesAndNKeys(t *testing.T) {
	writer, err := permissions.NewPasswordUser("writer-shop", permissions.Writer)
	require.NoError(t, err)
	alice, err := permissions.NewNKeyUser("alice", permissions.Client)
	require.NoError(t, err)
	block, err := shop.Authorization([]permissions.User{writer.User, alice.User})
	require.NoError(t, err)
	assert.NotContains(t, block, writer.Password, "the block holds no password")
	file := filepath.Join(t.TempDir(), "nats.conf")
	require.NoError(t, os.WriteFile(file, []byte(block), 0o600))
	opts, err := server.ProcessConfigFile(file)
	require.NoError(t, err)
	require.Len(t, opts.Users, 1)
	assert.Equal(t, "writer-shop", opts.Users[0].Username)
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(opts.Users[0].Password), []byte(writer.Password)))
	require.Len(t, opts.Nkeys, 1)
	assert.Equal(t, alice.User.NKey, opts.Nkeys[0].Nkey)
	want, err := shop.For(permissions.Client, "alice")
	require.NoError(t, err)
	assert.Equal(t, want.Subscribe, opts.Nkeys[0].Permissions.Subscribe.Allow)
}

// With the event browser, the gateway reads the stream and follows it with
// consumers of its own, but appends nothing, writes no bucket and touches
// none of the projectors' consumers; the nats-server reads its deny list.
func TestTheBrowsersGatewayReadsTheStreamAndWritesNothing(t *testing.T) {
	d := shop
	d.Browser = true
	p, err := d.For(permissions.Gateway, d.ServiceUser(permissions.Gateway))
	require.NoError(t, err)
	for subject, want := range map[string]bool{
		"cmd.account.open": true, "query.account.get": true, "jetsource.shop.projector.status": true,
		"$JS.API.STREAM.INFO.SHOP_EVENTS": true, "$JS.API.DIRECT.GET.SHOP_EVENTS": true,
		"$JS.API.DIRECT.GET.KV_SUBJECT_KEYS.$KV.SUBJECT_KEYS.user.u-1":                      true,
		"$JS.API.CONSUMER.CREATE.SHOP_EVENTS.Xa1b2_1.events.>":                              true,
		"$JS.API.CONSUMER.MSG.NEXT.SHOP_EVENTS.Xa1b2_1":                                     true,
		"$JS.API.CONSUMER.CREATE.SHOP_EVENTS.jetsource_shop_proj_accounts":                  false,
		"$JS.API.CONSUMER.CREATE.SHOP_EVENTS.jetsource_shop_proj_accounts.events.account.>": false,
		"$JS.API.CONSUMER.MSG.NEXT.SHOP_EVENTS.jetsource_shop_proj_accounts":                false,
		"$JS.API.CONSUMER.DELETE.SHOP_EVENTS.jetsource_shop_rebuild_accounts":               false,
		"events.account.a": false, "$KV.SUBJECT_KEYS.user.u-1": false, "$KV.SHOP_SNAPSHOTS.account.a": false,
		"$JS.API.STREAM.DELETE.SHOP_EVENTS": false, "$JS.API.STREAM.PURGE.KV_SUBJECT_KEYS": false,
		"jetsource.shop.projector.rebuild.accounts": false,
		"live.account.get":                          true, "$JS.API.CONSUMER.MSG.NEXT.LIVE_shop.abc": true, "live.answer_shop.account.get.0123": false,
	} {
		assert.Equal(t, want, allowed(subject, p.Publish, p.PublishDeny), "the gateway publishes to %s", subject)
	}
	assert.Equal(t, []string{"_INBOX.gateway-shop.>"}, p.Subscribe, "it receives its own replies only")
	off, err := shop.For(permissions.Gateway, "gateway-shop")
	require.NoError(t, err)
	for subject, want := range map[string]bool{
		"cmd.account.open": true, "query.account.get": true, "live.account.get": true,
		"$JS.API.CONSUMER.CREATE.LIVE_shop.abc.live.answer_shop.account.get.0123": true,
		"$JS.API.STREAM.INFO.SHOP_EVENTS":                                         false, "$JS.API.DIRECT.GET.SHOP_EVENTS": false,
		"$JS.API.CONSUMER.CREATE.SHOP_EVENTS.Xa1b2_1.events.>": false, "jetsource.shop.projector.status": false,
	} {
		assert.Equal(t, want, allowed(subject, off.Publish, nil), "without the browser, commands, queries and live queries only: %s", subject)
	}

	u, err := permissions.NewPasswordUser("gateway-shop", permissions.Gateway)
	require.NoError(t, err)
	block, err := d.Authorization([]permissions.User{u.User})
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "nats.conf")
	require.NoError(t, os.WriteFile(file, []byte(block), 0o600))
	opts, err := server.ProcessConfigFile(file)
	require.NoError(t, err)
	require.Len(t, opts.Users, 1)
	assert.Equal(t, p.PublishDeny, opts.Users[0].Permissions.Publish.Deny)
	assert.Equal(t, p.Publish, opts.Users[0].Permissions.Publish.Allow)
}

func TestBadUsersAndRolesAreRefused(t *testing.T) {
	_, err := permissions.NewPasswordUser("a.b", permissions.Client)
	assert.ErrorIs(t, err, permissions.ErrBadUser)
	_, err = permissions.NewPasswordUser("root", "superuser")
	assert.ErrorIs(t, err, permissions.ErrUnknownRole)
	u, err := permissions.NewPasswordUser("alice", permissions.Client)
	require.NoError(t, err)
	_, err = shop.Authorization([]permissions.User{u.User, u.User})
	assert.ErrorIs(t, err, permissions.ErrBadUser)
}

// A deployment of several streams grants on each of them what the one
// stream's gets, and the leader moves that spread them.
func TestSeveralStreamsAreEachGranted(t *testing.T) {
	cfg := config.Default()
	cfg.Store.Streams = "ACCOUNTS=account,user;ORDERS=order,product"
	d := permissions.DeploymentOf(cfg, []string{"accounts", "orders"})
	w, err := d.For(permissions.Writer, d.ServiceUser(permissions.Writer))
	require.NoError(t, err)
	for _, s := range []string{"ACCOUNTS", "ORDERS"} {
		assert.Contains(t, w.Publish, "$JS.API.STREAM.INFO."+s)
		assert.Contains(t, w.Publish, "$JS.API.DIRECT.GET."+s)
		assert.Contains(t, w.Publish, "$JS.API.CONSUMER.CREATE."+s)
		assert.Contains(t, w.Publish, "$JS.API.STREAM.LEADER.STEPDOWN."+s)
	}
	p, err := d.For(permissions.Projector, d.ServiceUser(permissions.Projector))
	require.NoError(t, err)
	assert.Contains(t, p.Publish, "$JS.API.CONSUMER.MSG.NEXT.ORDERS.jetsource_proj_orders")
	r, err := d.For(permissions.Reader, d.ServiceUser(permissions.Reader))
	require.NoError(t, err)
	assert.Contains(t, r.Publish, "$JS.API.CONSUMER.INFO.ACCOUNTS.jetsource_proj_accounts")

	one := permissions.DeploymentOf(config.Default(), []string{"accounts"})
	w, err = one.For(permissions.Writer, one.ServiceUser(permissions.Writer))
	require.NoError(t, err)
	assert.NotContains(t, strings.Join(w.Publish, " "), "STEPDOWN", "one stream: nothing new")

	d.Processes = []string{"transfers"}
	m, err := d.For(permissions.Manager, d.ServiceUser(permissions.Manager))
	require.NoError(t, err)
	for _, s := range []string{"ACCOUNTS", "ORDERS"} {
		assert.Contains(t, m.Publish, "$JS.API.CONSUMER.CREATE."+s+".jetsource_pm_transfers", "a process follows the events of any stream")
		assert.Contains(t, m.Publish, "$JS.API.DIRECT.GET."+s, "and loads aggregates from any")
	}
}

// An unnamed deployment's live queries and process managers use the
// unprefixed names: LIVE, live.answer, jetsource.live.notice, jetsource_pm_.
func TestTheUnnamedDeploymentGrantsTheUnprefixedNames(t *testing.T) {
	d := permissions.DeploymentOf(config.Default(), []string{"accounts"})
	d.Processes = []string{"transfers"}
	for role, subjects := range map[permissions.Role][]string{
		permissions.Reader:    {"live.answer.account.get.0123", "$JS.API.STREAM.CREATE.LIVE", "$JS.API.DIRECT.GET.LIVE.live.answer.account.get.0123"},
		permissions.Projector: {"jetsource.live.notice.accounts", "$JS.API.CONSUMER.CREATE.EVENTS.jetsource_pm_transfers"},
		permissions.Client:    {"live.account.get", "$JS.API.CONSUMER.CREATE.LIVE.abc.live.answer.account.get.0123"},
		permissions.Manager:   {"$JS.API.CONSUMER.MSG.NEXT.EVENTS.jetsource_pm_transfers", "$JS.API.CONSUMER.MSG.NEXT.TIMERS.jetsource_pm_transfers_timers"},
	} {
		p, err := d.For(role, "u")
		require.NoError(t, err)
		for _, subject := range subjects {
			assert.True(t, allowed(subject, p.Publish, p.PublishDeny), "%s publishes to %s", role, subject)
		}
	}
	r, err := d.For(permissions.Reader, "u")
	require.NoError(t, err)
	assert.True(t, allowed("jetsource.live.notice.accounts", r.Subscribe, nil), "the reader receives the notices")
	assert.False(t, allowed("jetsource.shop.live.notice.accounts", r.Subscribe, nil), "not another deployment's")
}

func TestProjectorMayUseTheConsumersOfEachPartition(t *testing.T) {
	d := shop
	d.Partitions = map[string]int{"accounts": 4}
	p, err := d.For(permissions.Projector, d.ServiceUser(permissions.Projector))
	require.NoError(t, err)
	for subject, want := range map[string]bool{
		"$JS.API.CONSUMER.CREATE.SHOP_EVENTS.jetsource_shop_proj_accounts-0":     true,
		"$JS.API.CONSUMER.MSG.NEXT.SHOP_EVENTS.jetsource_shop_proj_accounts-3":   true,
		"$JS.API.CONSUMER.CREATE.SHOP_EVENTS.jetsource_shop_rebuild_accounts-2":  true,
		"$JS.API.CONSUMER.CREATE.SHOP_EVENTS.jetsource_shop_proj_accounts-4":     false,
		"$JS.API.CONSUMER.CREATE.SHOP_EVENTS.jetsource_shop_proj_accounts":       false,
		"$JS.API.CONSUMER.DELETE.SHOP_EVENTS.jetsource_shop_rebuild_accounts-1":  true,
		"$JS.API.CONSUMER.DELETE.SHOP_EVENTS.jetsource_shop_rebuild_accounts-10": false,
	} {
		assert.Equal(t, want, allowed(subject, p.Publish, nil), "projector publishes to %s", subject)
	}
	r, err := d.For(permissions.Reader, d.ServiceUser(permissions.Reader))
	require.NoError(t, err)
	assert.True(t, allowed("$JS.API.CONSUMER.INFO.SHOP_EVENTS.jetsource_shop_proj_accounts-2", r.Publish, nil), "the reader's readiness reads each partition's lag")
}
