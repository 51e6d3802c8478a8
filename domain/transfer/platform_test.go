package transfer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
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

// The samples' account and transfer domains; the tests run their own
// process managers (rig.manager), so the projector runs none.
var (
	accounts  = samples.Account()
	transfers = samples.Transfer()
)

type rig struct {
	t     testing.TB
	n     *testkit.NATS
	nc    *nats.Conn
	cfg   config.Config
	ctx   context.Context
	wg    *sync.WaitGroup
	log   *slog.Logger
	store *streams.Store
}

func (r *rig) run(name string, f func(ctx context.Context) error) context.CancelFunc {
	ctx, cancel := context.WithCancel(r.ctx)
	r.wg.Go(func() {
		if err := f(ctx); err != nil && ctx.Err() == nil {
			r.t.Errorf("%s: %v", name, err)
		}
	})
	return cancel
}

func (r *rig) manager(timeout time.Duration) context.CancelFunc {
	p, err := transfer.Process(r.store, timeout)
	require.NoError(r.t, err)
	m, err := process.New(r.n.Connect(), r.store, p, process.Options{PinnedTTL: time.Second, AckWait: 5 * time.Second, Logger: r.log})
	require.NoError(r.t, err)
	return r.run("process manager", m.Run)
}

// command sends cmd.<typ>.<command>, with the correlation header when given,
// retrying while no writer serves it yet.
func (r *rig) command(typ, command, id, correlation string, data any) (status string, msg string) {
	body, _ := json.Marshal(map[string]any{"aggregate_id": id, "data": data})
	m := nats.NewMsg("cmd." + typ + "." + command)
	m.Data = body
	if correlation != "" {
		m.Header.Set(streams.HeaderCorrelationID, correlation)
	}
	var reply *nats.Msg
	testkit.Eventually(r.t, 20*time.Second, func() bool {
		var err error
		reply, err = r.nc.RequestMsg(m, 10*time.Second)
		return err == nil
	}, "cmd.%s.%s", typ, command)
	return reply.Header.Get("Nats-Service-Error-Code"), string(reply.Data)
}

func (r *rig) must(typ, command, id string, data any) {
	status, body := r.command(typ, command, id, "", data)
	require.Empty(r.t, status, "%s.%s %s: %s", typ, command, id, body)
}

func (r *rig) query(subject string, params map[string]any, into any) bool {
	body, _ := json.Marshal(params)
	reply, err := r.nc.Request(subject, body, 5*time.Second)
	if err != nil || reply.Header.Get("Nats-Service-Error-Code") != "" {
		return false
	}
	var out struct{ Data json.RawMessage }
	require.NoError(r.t, json.Unmarshal(reply.Data, &out))
	require.NoError(r.t, json.Unmarshal(out.Data, into))
	return true
}

func (r *rig) transferView(id string) transfer.View {
	var v transfer.View
	r.query("query.transfer.get", map[string]any{"id": id}, &v)
	return v
}

func (r *rig) events(typ, id string) []streams.Recorded {
	ref, err := streams.NewRef(typ, id)
	require.NoError(r.t, err)
	var out []streams.Recorded
	for ev, err := range r.store.Read(context.Background(), ref, streams.Position{}, streams.Until{}) {
		require.NoError(r.t, err)
		out = append(out, ev)
	}
	return out
}

func startRig(t testing.TB) *rig {
	n := testkit.StartNATS(t)
	redisServer := testkit.StartRedis(t)
	cfg := config.Default()
	cfg.NATS.URL = n.URL()
	cfg.Redis.URL = redisServer.URL
	cfg.Projector.FetchWait = 50 * time.Millisecond
	cfg.Reader.Live = true // the transfers are followed live (TestALiveQueryFollowsATransferToItsEnd)
	cfg.Projector.Processes = false
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, n: n, nc: n.Connect(), cfg: cfg, ctx: ctx, wg: new(sync.WaitGroup), log: slog.New(slog.DiscardHandler)}
	t.Cleanup(func() { cancel(); r.wg.Wait() })
	store, err := streams.Open(ctx, n.Connect(), streams.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	r.store = store
	both := service.New(accounts, transfers)
	rdb := redisServer.Client(t)
	r.run("projector", func(ctx context.Context) error {
		return both.RunProjector(ctx, cfg, n.Connect(), rdb, ops.New(r.log), r.log)
	})
	r.run("reader", func(ctx context.Context) error {
		return both.RunReader(ctx, cfg, n.Connect(), rdb, ops.New(r.log), r.log)
	})
	return r
}

// The process manager moves the money of each transfer once, refunds a
// refused deposit, fails a refused withdrawal, compensates a transfer that
// timed out, survives the loss of its active instance, and every event it
// causes carries the transfer's correlation id.
func TestTransfersEndCompletedOrFailedAndKeepTheMoney(t *testing.T) {
	r := startRig(t)
	r.run("transfer writer", func(ctx context.Context) error {
		return service.New(transfers).RunWriter(ctx, r.cfg, r.n.Connect(), ops.New(r.log), r.log)
	})
	first := r.manager(time.Second)
	second := r.manager(time.Second) // the standby

	// No account writer yet: the withdrawal of "late" waits, its timer fires,
	// and when the accounts come back the money goes back to the source.
	status, body := r.command("transfer", "request", "late", "late", transfer.Request{From: "a", To: "b", Amount: 5})
	require.Empty(t, status, body)
	testkit.Eventually(t, 20*time.Second, func() bool {
		evs := r.events("transfer", "late")
		return len(evs) > 0 && evs[len(evs)-1].Type == "TransferExpired"
	}, "the timer of transfer late fires while its withdrawal waits")

	// The others get a timeout that a loaded machine does not reach: only
	// late is to time out.
	first()
	second()
	const patient = 30 * time.Second
	first, second = r.manager(patient), r.manager(patient)

	r.run("account writer", func(ctx context.Context) error {
		return service.New(accounts).RunWriter(ctx, r.cfg, r.n.Connect(), ops.New(r.log), r.log)
	})
	for _, id := range []string{"a", "b", "c"} {
		r.must("account", "open", id, account.Open{Owner: id})
	}
	r.must("account", "deposit", "a", account.Deposit{Amount: 100})
	r.must("account", "freeze", "c", nil)

	want := map[string]struct {
		req    transfer.Request
		status string
		refund bool
		reason string
	}{
		"late":    {transfer.Request{From: "a", To: "b", Amount: 5}, transfer.StatusFailed, true, "timed out"},
		"ok":      {transfer.Request{From: "a", To: "b", Amount: 30}, transfer.StatusCompleted, false, ""},
		"frozen":  {transfer.Request{From: "a", To: "c", Amount: 20}, transfer.StatusFailed, true, "account is frozen"},
		"missing": {transfer.Request{From: "a", To: "nobody", Amount: 10}, transfer.StatusFailed, true, "deposit to nobody refused"},
		"poor":    {transfer.Request{From: "b", To: "a", Amount: 1000}, transfer.StatusFailed, false, "insufficient funds"},
	}
	for _, id := range []string{"ok", "frozen", "missing", "poor"} {
		switch id {
		case "frozen":
			first() // the active manager (or the standby) stops: the other goes on
		case "missing":
			second() // the other stops too: a new one resumes from the durable consumer
			r.manager(patient)
		}
		w := want[id]
		status, body := r.command("transfer", "request", id, id, w.req)
		require.Empty(t, status, body)
	}
	for id, w := range want {
		testkit.Eventually(t, 60*time.Second, func() bool {
			return r.transferView(id).Status == w.status
		}, "transfer %s ends %s", id, w.status)
		v := r.transferView(id)
		assert.Equal(t, w.refund, v.Refunded, id)
		assert.Contains(t, v.Reason, w.reason, id)
	}
	balances := map[string]int64{}
	testkit.Eventually(t, 20*time.Second, func() bool {
		for _, id := range []string{"a", "b", "c"} {
			var v account.View
			if !r.query("query.account.get", map[string]any{"id": id}, &v) {
				return false
			}
			balances[id] = v.Balance
		}
		return balances["a"]+balances["b"]+balances["c"] == 100 && balances["b"] == 30
	}, "balances")
	assert.Equal(t, map[string]int64{"a": 70, "b": 30, "c": 0}, balances)

	// Each money movement once, and every event a transfer caused carries
	// its correlation id, with the event that caused it.
	moves := map[string]int{}
	for _, acc := range []string{"a", "b", "c"} {
		for _, ev := range r.events("account", acc) {
			if ev.Type != "MoneyDeposited" && ev.Type != "MoneyWithdrawn" || ev.CorrelationID == "" {
				continue
			}
			moves[fmt.Sprintf("%s %s %s", ev.CorrelationID, ev.Type, acc)]++
			assert.NotEmpty(t, ev.CausationID)
		}
	}
	assert.Equal(t, map[string]int{
		"late MoneyWithdrawn a": 1, "late MoneyDeposited a": 1,
		"ok MoneyWithdrawn a": 1, "ok MoneyDeposited b": 1,
		"frozen MoneyWithdrawn a": 1, "frozen MoneyDeposited a": 1,
		"missing MoneyWithdrawn a": 1, "missing MoneyDeposited a": 1,
	}, moves)
	for id := range want {
		for _, ev := range r.events("transfer", id) {
			assert.Equal(t, id, ev.CorrelationID, "%s %s", id, ev.Type)
		}
	}

	var of transfer.AccountTransfers
	require.True(t, r.query("query.account.transfers", map[string]any{"id": "a"}, &of))
	assert.Equal(t, []string{"frozen", "late", "missing", "ok", "poor"}, of.Transfers)
	assert.Equal(t, int64(5), of.Count)
	var acc account.View
	require.True(t, r.query("query.account.get", map[string]any{"id": "a"}, &acc))
	assert.Equal(t, "a", acc.ID, "account.get answers as before")
}

// A live query follows a transfer from before it exists to its end: every
// answer in order, with growing sequences, its status never going back.
func TestALiveQueryFollowsATransferToItsEnd(t *testing.T) {
	r := startRig(t)
	for name, d := range map[string]service.Domain{"account writer": accounts, "transfer writer": transfers} {
		r.run(name, func(ctx context.Context) error {
			return service.New(d).RunWriter(ctx, r.cfg, r.n.Connect(), ops.New(r.log), r.log)
		})
	}
	r.manager(30 * time.Second)
	for _, id := range []string{"a", "b"} {
		r.must("account", "open", id, account.Open{Owner: id})
	}
	r.must("account", "deposit", "a", account.Deposit{Amount: 100})

	var sub *live.Subscription
	testkit.Eventually(t, 20*time.Second, func() bool {
		var err error
		sub, err = live.Subscribe(r.ctx, r.n.Connect(), "transfer", "get", json.RawMessage(`{"id":"t1"}`))
		return err == nil
	}, "a live server answers the subscription")
	defer sub.Close()
	first := <-sub.Updates()
	require.NotNil(t, first.Error, "t1 does not exist yet: %s", first.Data)
	assert.Equal(t, "not_found", first.Error.Code)

	status, body := r.command("transfer", "request", "t1", "t1", transfer.Request{From: "a", To: "b", Amount: 40})
	require.Empty(t, status, body)
	order := []string{transfer.StatusRequested, transfer.StatusWithdrawing, transfer.StatusDebited,
		transfer.StatusDepositing, transfer.StatusCompleted}
	last, rank := first.Sequence, -1
	timeout := time.After(30 * time.Second)
	for rank < len(order)-1 {
		select {
		case u, ok := <-sub.Updates():
			require.True(t, ok, "the subscription ended: %v", sub.Err())
			require.Greater(t, u.Sequence, last, "sequences grow")
			last = u.Sequence
			require.Nil(t, u.Error)
			var v transfer.View
			require.NoError(t, json.Unmarshal(u.Data, &v))
			next := slices.Index(order, v.Status)
			require.GreaterOrEqual(t, next, rank, "status %s after %s", v.Status, order[max(rank, 0)])
			rank = next
			t.Logf("sequence %d: %s", u.Sequence, v.Status)
		case <-timeout:
			t.Fatalf("no completed answer; last status %s", order[max(rank, 0)])
		}
	}
}
