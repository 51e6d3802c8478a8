package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/domain/transfer"
	"github.com/jetsource/jetsource/live"
	"github.com/jetsource/jetsource/ops"
	"github.com/jetsource/jetsource/process"
	"github.com/jetsource/jetsource/service"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// samplesRig runs services of the samples' platform on a private NATS and
// Redis, in process, and talks to them as a client does.
type samplesRig struct {
	t   *testing.T
	n   *testkit.NATS
	nc  *nats.Conn
	cfg config.Config
	p   *service.Platform
	ctx context.Context
	log *slog.Logger
	run func(name string, f func(ctx context.Context) error) context.CancelFunc
	// projector starts a projector of the platform with cfg.
	projector func(name string, cfg config.Config) context.CancelFunc
}

func startSamples(t *testing.T, tune ...func(*config.Config)) *samplesRig {
	t.Helper()
	n := testkit.StartNATS(t)
	redisServer := testkit.StartRedis(t)
	cfg := config.Default()
	cfg.NATS.URL = n.URL()
	cfg.Redis.URL = redisServer.URL
	cfg.Projector.FetchWait = 50 * time.Millisecond
	cfg.Process.PinnedTTL = time.Second
	cfg.Reader.Live = true
	for _, f := range tune {
		f(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	r := &samplesRig{t: t, n: n, nc: n.Connect(), cfg: cfg, p: samples.Platform(), ctx: ctx, log: slog.New(slog.DiscardHandler)}
	rdb := redisServer.Client(t)
	r.run = func(name string, f func(ctx context.Context) error) context.CancelFunc {
		ctx, cancel := context.WithCancel(ctx)
		wg.Go(func() {
			if err := f(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("%s: %v", name, err)
			}
		})
		return cancel
	}
	r.run("writer", func(ctx context.Context) error {
		return r.p.RunWriter(ctx, cfg, n.Connect(nats.ReconnectBufSize(-1)), ops.New(r.log), r.log)
	})
	r.run("reader", func(ctx context.Context) error {
		return r.p.RunReader(ctx, cfg, n.Connect(), rdb, ops.New(r.log), r.log)
	})
	r.projector = func(name string, cfg config.Config) context.CancelFunc {
		return r.run(name, func(ctx context.Context) error {
			return r.p.RunProjector(ctx, cfg, n.Connect(), rdb, ops.New(r.log), r.log)
		})
	}
	return r
}

// command sends cmd.<typ>.<command>, retrying while no writer serves it
// yet, and requires it accepted.
func (r *samplesRig) command(typ, command, id string, data any) {
	r.t.Helper()
	body, err := json.Marshal(map[string]any{"aggregate_id": id, "data": data})
	require.NoError(r.t, err)
	var reply *nats.Msg
	testkit.Eventually(r.t, 20*time.Second, func() bool {
		reply, err = r.nc.Request("cmd."+typ+"."+command, body, 10*time.Second)
		return err == nil && reply.Header.Get("Nats-Service-Error-Code") != "503"
	}, "cmd.%s.%s served", typ, command)
	require.Empty(r.t, reply.Header.Get("Nats-Service-Error-Code"), "cmd.%s.%s %s: %s", typ, command, id, reply.Data)
}

// query answers query.<subject> into into; false while it is not answered.
func (r *samplesRig) query(subject string, params map[string]any, into any) bool {
	body, err := json.Marshal(params)
	require.NoError(r.t, err)
	reply, err := r.nc.Request("query."+subject, body, 5*time.Second)
	if err != nil || reply.Header.Get("Nats-Service-Error-Code") != "" {
		return false
	}
	var out struct{ Data json.RawMessage }
	require.NoError(r.t, json.Unmarshal(reply.Data, &out))
	require.NoError(r.t, json.Unmarshal(out.Data, into))
	return true
}

func (r *samplesRig) transfer(id string) transfer.View {
	var v transfer.View
	r.query("transfer.get", map[string]any{"id": id}, &v)
	return v
}

func (r *samplesRig) balance(id string) int64 {
	var v account.View
	if !r.query("account.get", map[string]any{"id": id}, &v) {
		return -1
	}
	return v.Balance
}

// eventTypes are the types of the events of typ id, in order.
func (r *samplesRig) eventTypes(typ, id string) []string {
	store, err := streams.Open(r.ctx, r.nc)
	require.NoError(r.t, err)
	ref, err := streams.NewRef(typ, id)
	require.NoError(r.t, err)
	var out []string
	for ev, err := range store.Read(r.ctx, ref, streams.Position{}, streams.Until{}) {
		require.NoError(r.t, err)
		out = append(out, ev.Type)
	}
	return out
}

// The shipped platform (samples.Platform: writer, projector, reader) serves
// the transfer sample whole: its projector runs the process manager, so a
// transfer between two accounts completes (both balances moved, the accounts'
// transfers list it, a live query follows it to its end) and one to a frozen
// account ends failed with the money back at its source.
func TestSamplesPlatformMovesTheMoneyOfTransfers(t *testing.T) {
	r := startSamples(t)
	r.projector("projector", r.cfg)
	for _, id := range []string{"a", "b", "c"} {
		r.command("account", "open", id, account.Open{Owner: id})
	}
	r.command("account", "deposit", "a", account.Deposit{Amount: 100})
	r.command("account", "freeze", "c", nil)

	var sub *live.Subscription
	testkit.Eventually(t, 20*time.Second, func() bool {
		var err error
		sub, err = live.Subscribe(r.ctx, r.n.Connect(), "transfer", "get", json.RawMessage(`{"id":"ok"}`))
		return err == nil
	}, "a live server answers the subscription")
	defer sub.Close()

	r.command("transfer", "request", "ok", transfer.Request{From: "a", To: "b", Amount: 30})
	r.command("transfer", "request", "frozen", transfer.Request{From: "a", To: "c", Amount: 20})

	testkit.Eventually(t, 60*time.Second, func() bool { return r.transfer("ok").Status == transfer.StatusCompleted },
		"transfer ok completes")
	testkit.Eventually(t, 60*time.Second, func() bool { return r.transfer("frozen").Status == transfer.StatusFailed },
		"transfer frozen fails")
	frozen := r.transfer("frozen")
	assert.True(t, frozen.Refunded, "the withdrawal for the frozen account is refunded")
	assert.Contains(t, frozen.Reason, "account is frozen")
	assert.Equal(t, transfer.View{ID: "ok", From: "a", To: "b", Amount: 30, Status: transfer.StatusCompleted,
		Version: r.transfer("ok").Version}, r.transfer("ok"))

	testkit.Eventually(t, 20*time.Second, func() bool { return r.balance("a") == 70 && r.balance("b") == 30 },
		"balances a 70, b 30")
	assert.Equal(t, []int64{70, 30, 0}, []int64{r.balance("a"), r.balance("b"), r.balance("c")})
	for id, want := range map[string][]string{"a": {"frozen", "ok"}, "b": {"ok"}, "c": {"frozen"}} {
		var of transfer.AccountTransfers
		require.True(t, r.query("account.transfers", map[string]any{"id": id}, &of), id)
		assert.Equal(t, want, of.Transfers, "the transfers of account %s", id)
	}

	timeout := time.After(30 * time.Second)
	for done := false; !done; {
		select {
		case u, ok := <-sub.Updates():
			require.True(t, ok, "the subscription ended: %v", sub.Err())
			if u.Error != nil {
				continue // not_found before the transfer's first event
			}
			var v transfer.View
			require.NoError(t, json.Unmarshal(u.Data, &v))
			done = v.Status == transfer.StatusCompleted
		case <-timeout:
			t.Fatal("the live query never answered the transfer completed")
		}
	}
}

// A projector with projector.processes false runs no process manager (no
// consumer of it exists and a requested transfer stays as requested while
// the projections follow it), and a projector with them on, started beside
// it, moves the money.
func TestAProjectorRunsTheProcessManagersUnlessTurnedOff(t *testing.T) {
	r := startSamples(t)
	off := r.cfg
	off.Projector.Processes = false
	r.projector("projector without processes", off)
	for _, id := range []string{"a", "b"} {
		r.command("account", "open", id, account.Open{Owner: id})
	}
	r.command("account", "deposit", "a", account.Deposit{Amount: 100})
	r.command("transfer", "request", "t1", transfer.Request{From: "a", To: "b", Amount: 40})
	// The projections run: the transfer is read, and after it the account
	// deposited after its request.
	testkit.Eventually(t, 20*time.Second, func() bool { return r.transfer("t1").Status == transfer.StatusRequested },
		"the transfers projection shows t1")
	r.command("account", "deposit", "b", account.Deposit{Amount: 1})
	testkit.Eventually(t, 20*time.Second, func() bool { return r.balance("b") == 1 }, "the accounts projection follows")

	js, err := jetstream.New(r.nc)
	require.NoError(t, err)
	_, err = js.Consumer(r.ctx, r.cfg.Store.Stream, process.ConsumerName("", transfer.ProcessName, false))
	require.ErrorIs(t, err, jetstream.ErrConsumerNotFound, "no process manager follows the transfers")
	assert.Equal(t, []string{"TransferRequested"}, r.eventTypes("transfer", "t1"), "nothing moved t1")
	assert.Equal(t, transfer.StatusRequested, r.transfer("t1").Status)
	assert.Equal(t, int64(100), r.balance("a"))

	r.projector("projector with processes", r.cfg)
	testkit.Eventually(t, 60*time.Second, func() bool { return r.transfer("t1").Status == transfer.StatusCompleted },
		"t1 completes once a projector runs the process manager")
	testkit.Eventually(t, 20*time.Second, func() bool { return r.balance("a") == 60 && r.balance("b") == 41 },
		"the money moved once")
}

// A process manager follows its events wherever they lie: with the
// transfers in a stream of their own, after the accounts', the shipped
// platform's projector runs the transfers' manager, its consumer is on
// TRANSFERS (and not on ACCOUNTS), and a transfer moves the money once.
func TestAProcessOutsideTheFirstStreamRuns(t *testing.T) {
	r := startSamples(t, func(cfg *config.Config) { cfg.Store.Streams = "ACCOUNTS=account,order,product,user;TRANSFERS=transfer" })
	r.projector("projector", r.cfg)
	for _, id := range []string{"a", "b"} {
		r.command("account", "open", id, account.Open{Owner: id})
	}
	r.command("account", "deposit", "a", account.Deposit{Amount: 100})
	r.command("transfer", "request", "t1", transfer.Request{From: "a", To: "b", Amount: 40})
	testkit.Eventually(t, 60*time.Second, func() bool { return r.transfer("t1").Status == transfer.StatusCompleted },
		"t1 completes")
	testkit.Eventually(t, 20*time.Second, func() bool { return r.balance("a") == 60 && r.balance("b") == 40 },
		"the money moved once")

	js, err := jetstream.New(r.nc)
	require.NoError(t, err)
	consumer := process.ConsumerName("", transfer.ProcessName, false)
	c, err := js.Consumer(r.ctx, "TRANSFERS", consumer)
	require.NoError(t, err, "the manager follows TRANSFERS")
	assert.Equal(t, []string{"events.transfer.>"}, c.CachedInfo().Config.FilterSubjects)
	_, err = js.Consumer(r.ctx, "ACCOUNTS", consumer)
	assert.ErrorIs(t, err, jetstream.ErrConsumerNotFound, "nothing it follows lies in ACCOUNTS")
}

// Two domains may not register one process manager.
func TestAProcessRegisteredTwiceIsRefused(t *testing.T) {
	err := service.New(samples.Transfer(), service.Domain{Processes: []service.Process{samples.TransferProcess()}}).Validate()
	require.Error(t, err)
	assert.Equal(t, fmt.Sprintf("service: process %s registered twice", transfer.ProcessName), err.Error())
}
