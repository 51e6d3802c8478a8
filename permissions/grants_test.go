package permissions_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/live"
	"github.com/jetsource/jetsource/ops"
	"github.com/jetsource/jetsource/permissions"
	"github.com/jetsource/jetsource/process"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/service"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// probe is the process manager of the tests (Deployment.Processes).
const probe = "probe"

// accounts is the platform of the tests: the account sample alone.
var accounts = service.New(service.Domain{Aggregates: []service.Aggregate{service.AggregateOf(account.Definition())},
	Projections: []projections.Projection{account.Projection()}, Queries: account.Queries()})

// authorized is a nats-server that knows only the users of one deployment
// ("shop"), one per role, with the authorization block nats-config makes.
type authorized struct {
	t     *testing.T
	n     *testkit.NATS
	cfg   config.Config
	d     permissions.Deployment
	creds map[permissions.Role]permissions.Credentials
	ctx   context.Context
	wg    sync.WaitGroup
	log   *slog.Logger

	mu         sync.Mutex
	violations map[permissions.Role][]string
}

func startAuthorized(t *testing.T) *authorized {
	cfg := config.Default()
	cfg.Deployment.Name = "shop"
	cfg.Projector.FetchWait = 50 * time.Millisecond
	d := permissions.DeploymentOf(cfg, []string{account.ProjectionName})
	d.Processes = []string{probe}
	a := &authorized{t: t, cfg: cfg, d: d, creds: map[permissions.Role]permissions.Credentials{},
		log: slog.New(slog.DiscardHandler), violations: map[permissions.Role][]string{}}
	var users []permissions.User
	for _, r := range permissions.Roles {
		name := d.ServiceUser(r)
		if r == permissions.Client {
			name = "alice"
		}
		// NKeys: a bcrypt check per connection is slow under -race.
		c, err := permissions.NewNKeyUser(name, r)
		require.NoError(t, err)
		a.creds[r] = c
		users = append(users, c.User)
	}
	block, err := d.Authorization(users)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "authorization.conf")
	require.NoError(t, os.WriteFile(file, []byte(block), 0o600))
	auth, err := server.ProcessConfigFile(file)
	require.NoError(t, err)
	a.n = testkit.StartNATS(t, func(o *server.Options) { o.Users, o.Nkeys = auth.Users, auth.Nkeys })
	ctx, cancel := context.WithCancel(context.Background())
	a.ctx = ctx
	t.Cleanup(func() { cancel(); a.wg.Wait() })
	return a
}

// connect connects as the user of role r, with its inbox prefix; every
// permissions violation the server reports to it is kept.
func (a *authorized) connect(r permissions.Role) *nats.Conn {
	c := a.creds[r]
	kp, err := nkeys.FromSeed(c.Seed)
	require.NoError(a.t, err)
	return a.n.Connect(nats.Nkey(c.User.NKey, kp.Sign), nats.CustomInboxPrefix(permissions.InboxPrefix(c.User.Name)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				a.mu.Lock()
				a.violations[r] = append(a.violations[r], err.Error())
				a.mu.Unlock()
			}
		}))
}

// run runs f until the test ends; an error before then fails the test.
func (a *authorized) run(name string, f func(ctx context.Context) error) {
	a.wg.Go(func() {
		if err := f(a.ctx); err != nil && a.ctx.Err() == nil {
			a.t.Errorf("%s: %v", name, err)
		}
	})
}

// noViolations checks that the users of roles did nothing they may not.
func (a *authorized) noViolations(roles ...permissions.Role) {
	a.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range roles {
		assert.Empty(a.t, a.violations[r], "the %s user was refused something it needs", r)
	}
}

// refused waits until the server refuses the user of r what (`Publish to
// "<subject>"` or `Subscription to "<subject>"`).
func (a *authorized) refused(r permissions.Role, what string) {
	a.t.Helper()
	testkit.Eventually(a.t, 10*time.Second, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return slices.ContainsFunc(a.violations[r], func(v string) bool { return strings.Contains(v, what) })
	}, "the %s user is not refused %s", r, what)
}

// command sends cmd.<typ>.<command> as nc until a writer answers it, and
// requires that it is accepted.
func command(t *testing.T, nc *nats.Conn, typ, command, id string, data any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"aggregate_id": id, "data": data})
	require.NoError(t, err)
	var reply *nats.Msg
	testkit.Eventually(t, 20*time.Second, func() bool {
		reply, err = nc.Request("cmd."+typ+"."+command, body, 5*time.Second)
		return err == nil
	}, "no writer answers cmd.%s.%s", typ, command)
	require.Empty(t, reply.Header.Get("Nats-Service-Error-Code"), "cmd.%s.%s %s: %s", typ, command, id, reply.Data)
}

// balance is the balance of an account query's answer (-1: not found).
func balance(t *testing.T, data json.RawMessage, failed *live.ErrorBody) int64 {
	if failed != nil {
		return -1
	}
	var v struct{ Balance int64 }
	require.NoError(t, json.Unmarshal(data, &v))
	return v.Balance
}

// With the users of nats-config, the reader serves a live query, a client
// and the gateway (over Server-Sent Events) subscribe to it and receive
// the current answer, then the answer after a deposit, which the projector's
// notice brings: no user is refused anything on the way.
func TestLiveQueriesRunWithTheGeneratedUsers(t *testing.T) {
	a := startAuthorized(t)
	require.True(t, a.cfg.Reader.Live, "live queries are on by default")
	rdb := testkit.StartRedis(t).Client(t)
	a.run("writer", func(ctx context.Context) error {
		return accounts.RunWriter(ctx, a.cfg, a.connect(permissions.Writer), ops.New(a.log), a.log)
	})
	a.run("projector", func(ctx context.Context) error {
		return accounts.RunProjector(ctx, a.cfg, a.connect(permissions.Projector), rdb, ops.New(a.log), a.log)
	})
	a.run("reader", func(ctx context.Context) error {
		return accounts.RunReader(ctx, a.cfg, a.connect(permissions.Reader), rdb, ops.New(a.log), a.log)
	})
	gatewayCfg := a.cfg
	gatewayCfg.HTTP.GatewayListen = "127.0.0.1:0"
	bound := make(chan net.Addr, 1)
	a.run("gateway", func(ctx context.Context) error {
		return accounts.RunGateway(ctx, gatewayCfg, a.connect(permissions.Gateway), ops.New(a.log), a.log, func(addr net.Addr) { bound <- addr })
	})
	client := a.connect(permissions.Client)
	command(t, client, account.Type, "open", "a1", account.Open{Owner: "ann"})

	var sub *live.Subscription
	testkit.Eventually(t, 20*time.Second, func() bool {
		var err error
		sub, err = live.Subscribe(a.ctx, client, account.Type, "get", json.RawMessage(`{"id":"a1"}`))
		return err == nil
	}, "the client cannot subscribe to account.get")
	defer sub.Close()
	select {
	case first, ok := <-sub.Updates():
		require.True(t, ok, "the subscription ended: %v", sub.Err())
		assert.Contains(t, []int64{-1, 0}, balance(t, first.Data, first.Error), "the current answer: not yet projected, or opened")
	case <-time.After(20 * time.Second):
		t.Fatal("no current answer")
	}

	var addr net.Addr
	select {
	case addr = <-bound:
	case <-time.After(20 * time.Second):
		t.Fatal("the gateway does not listen")
	}
	req, err := http.NewRequestWithContext(a.ctx, http.MethodGet, "http://"+addr.String()+"/v1/live/account/get?id=a1", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "the gateway's live query")
	events := make(chan live.Message, 16)
	go func() {
		defer close(events)
		lines := bufio.NewScanner(resp.Body)
		for lines.Scan() {
			if data, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
				var m live.Message
				if json.Unmarshal([]byte(data), &m) == nil {
					events <- m
				}
			}
		}
	}()
	select {
	case m, ok := <-events:
		require.True(t, ok, "the gateway's stream ended")
		assert.Contains(t, []int64{-1, 0}, balance(t, m.Data, m.Error), "the gateway's current answer")
	case <-time.After(20 * time.Second):
		t.Fatal("no current answer over Server-Sent Events")
	}

	command(t, client, account.Type, "deposit", "a1", account.Deposit{Amount: 5})
	deadline := time.After(30 * time.Second)
	for got := false; !got; {
		select {
		case u, ok := <-sub.Updates():
			require.True(t, ok, "the subscription ended: %v", sub.Err())
			got = balance(t, u.Data, u.Error) == 5
		case <-deadline:
			t.Fatal("the client never receives the balance after the deposit")
		}
	}
	for got := false; !got; {
		select {
		case m, ok := <-events:
			require.True(t, ok, "the gateway's stream ended")
			got = balance(t, m.Data, m.Error) == 5
		case <-deadline:
			t.Fatal("the gateway never sends the balance after the deposit")
		}
	}
	a.noViolations(permissions.Writer, permissions.Projector, permissions.Reader, permissions.Gateway, permissions.Client)
}

// A manager user, and a projector user, each run a process manager: it
// follows the accounts' events, loads the account, schedules a timer that
// fires and sends a command with the correlation and causation headers; the
// fired timer is deleted from TIMERS; no user is refused anything.
func TestProcessManagersRunWithTheGeneratedUsers(t *testing.T) {
	for _, role := range []permissions.Role{permissions.Manager, permissions.Projector} {
		t.Run(string(role), func(t *testing.T) {
			a := startAuthorized(t)
			a.run("writer", func(ctx context.Context) error {
				return accounts.RunWriter(ctx, a.cfg, a.connect(permissions.Writer), ops.New(a.log), a.log)
			})
			nc := a.connect(role)
			store, err := service.OpenStore(a.ctx, a.cfg, nc, a.log)
			require.NoError(t, err)
			repo, err := streams.NewRepository(store, streams.ModelOf(account.Definition()))
			require.NoError(t, err)
			p := process.Process{Name: probe, Subjects: []string{streams.SubjectPrefix + "." + account.Type + ".>"},
				React: func(ctx context.Context, c *process.Commands, ev streams.Recorded) error {
					if ev.Type != "AccountOpened" {
						return nil
					}
					acc, err := repo.Load(ctx, ev.Ref.ID())
					if err != nil {
						return err
					}
					return c.Schedule(ctx, time.Now().Add(200*time.Millisecond), []byte(acc.State.Owner))
				},
				Fired: func(ctx context.Context, c *process.Commands, tm process.Timer) error {
					_, err := c.Send(ctx, account.Type, "deposit", tm.Ref.ID(), "welcome", account.Deposit{Amount: int64(len(tm.Data))})
					return err
				}}
			m, err := process.New(nc, store, p, process.Options{Deployment: a.cfg.Deployment.Name, PinnedTTL: time.Second,
				Retry: 50 * time.Millisecond, CommandTimeout: 5 * time.Second, Logger: a.log})
			require.NoError(t, err)
			a.run("process manager", m.Run)

			command(t, a.connect(permissions.Client), account.Type, "open", "a1", account.Open{Owner: "ann"})
			admin := a.connect(permissions.Admin)
			adminStore, err := streams.Open(a.ctx, admin)
			require.NoError(t, err)
			ref, err := streams.NewRef(account.Type, "a1")
			require.NoError(t, err)
			var deposit streams.Recorded
			testkit.Eventually(t, 30*time.Second, func() bool {
				for ev, err := range adminStore.Read(a.ctx, ref, streams.Position{}, streams.Until{}) {
					if err == nil && ev.Type == "MoneyDeposited" {
						deposit = ev
						return true
					}
				}
				return false
			}, "the timer's command never deposits")
			assert.JSONEq(t, `{"amount": 3}`, string(deposit.Data), "the timer carries what React loaded (the owner)")
			assert.Equal(t, "a1", deposit.CorrelationID)
			assert.True(t, strings.HasPrefix(deposit.CausationID, "timer-"+probe+"-"), deposit.CausationID)

			timers, err := adminStore.JetStream().Stream(a.ctx, process.DefaultTimerStream)
			require.NoError(t, err)
			testkit.Eventually(t, 20*time.Second, func() bool {
				info, err := timers.Info(a.ctx)
				return err == nil && info.State.Msgs == 0
			}, "the fired timer is not deleted from %s", process.DefaultTimerStream)
			a.noViolations(role, permissions.Writer, permissions.Client)
		})
	}
}

// Each role is refused, by a real nats-server, what it must not do with
// live queries and process managers: forge answers, notices or fired
// timers, append events, touch another's consumers or schedules.
func TestEachRoleIsRefusedWhatItMustNotDo(t *testing.T) {
	a := startAuthorized(t)
	answer := live.AnswerSubject("shop", account.Type, "get", "0123")
	notice := live.NoticeSubject("shop", account.ProjectionName)
	forged := map[permissions.Role][]string{
		permissions.Reader: {"events.account.a1", "$JS.API.STREAM.DELETE." + live.StreamName("shop"), notice,
			"timers." + probe + ".at.account.a1"},
		permissions.Projector: {"events.account.a1", answer, "timers." + probe + ".fired.account.a1", "timers.other.at.account.a1",
			"$JS.API.STREAM.PURGE." + process.DefaultTimerStream},
		permissions.Manager: {"events.account.a1", answer, notice, "timers." + probe + ".fired.account.a1", "timers.other.at.account.a1",
			"$JS.API.STREAM.PURGE." + process.DefaultTimerStream,
			"$JS.API.CONSUMER.CREATE.EVENTS.jetsource_shop_proj_accounts",
			"$JS.API.CONSUMER.CREATE.EVENTS.jetsource_shop_pm_other"},
		permissions.Gateway: {"events.account.a1", answer, notice, "$JS.API.STREAM.CREATE." + live.StreamName("shop"),
			"timers." + probe + ".at.account.a1"},
		permissions.Client: {"events.account.a1", answer, notice, "$JS.API.STREAM.UPDATE." + live.StreamName("shop"),
			"$JS.API.CONSUMER.CREATE.EVENTS.jetsource_shop_pm_" + probe},
		permissions.Writer: {answer, notice, "timers." + probe + ".at.account.a1"},
	}
	receive := map[permissions.Role][]string{
		permissions.Manager:   {"cmd.account.open", live.RequestSubject(account.Type, "get")},
		permissions.Gateway:   {live.RequestSubject(account.Type, "get"), notice},
		permissions.Client:    {live.RequestSubject(account.Type, "get"), notice, answer},
		permissions.Projector: {live.RequestSubject(account.Type, "get"), notice},
	}
	for _, r := range append(slices.Clone(permissions.Services), permissions.Client) {
		nc := a.connect(r)
		for _, subject := range forged[r] {
			require.NoError(t, nc.Publish(subject, []byte(`{}`)))
		}
		for _, subject := range receive[r] {
			_, err := nc.SubscribeSync(subject)
			require.NoError(t, err)
		}
		require.NoError(t, nc.Flush())
	}
	for r, subjects := range forged {
		for _, subject := range subjects {
			a.refused(r, `Publish to "`+subject+`"`)
		}
	}
	for r, subjects := range receive {
		for _, subject := range subjects {
			a.refused(r, `Subscription to "`+subject+`"`)
		}
	}
}
