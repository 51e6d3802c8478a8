package transfer_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/transfer"
	"github.com/jetsource/jetsource/ops"
	"github.com/jetsource/jetsource/process"
	"github.com/jetsource/jetsource/service"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// manyTransfers is the load of the replay tests: forty transfers among four
// accounts (d frozen), requested at once.
type manyTransfers map[string]transfer.Request

// startManyTransfers runs the writers, opens the accounts and requests the
// transfers from concurrent clients: ok-NN move 10 from a to b (b to a
// every third), frozen-N 5 from a to d (refunded), poor-N 10000 from b to c
// (refused).
func startManyTransfers(r *rig) manyTransfers {
	for name, d := range map[string]service.Domain{"account writer": accounts, "transfer writer": transfers} {
		r.run(name, func(ctx context.Context) error {
			return service.New(d).RunWriter(ctx, r.cfg, r.n.Connect(), ops.New(r.log), r.log)
		})
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		r.must("account", "open", id, account.Open{Owner: id})
	}
	r.must("account", "deposit", "a", account.Deposit{Amount: 1000})
	r.must("account", "deposit", "b", account.Deposit{Amount: 1000})
	r.must("account", "freeze", "d", nil)
	mt := manyTransfers{}
	for i := range 30 {
		req := transfer.Request{From: "a", To: "b", Amount: 10}
		if i%3 == 0 {
			req.From, req.To = "b", "a"
		}
		mt[fmt.Sprintf("ok-%02d", i)] = req
	}
	for i := range 5 {
		mt[fmt.Sprintf("frozen-%d", i)] = transfer.Request{From: "a", To: "d", Amount: 5}
		mt[fmt.Sprintf("poor-%d", i)] = transfer.Request{From: "b", To: "c", Amount: 10000}
	}
	var wg sync.WaitGroup
	for id, req := range mt {
		wg.Go(func() {
			status, body := r.command("transfer", "request", id, id, req)
			assert.Empty(r.t, status, "%s: %s", id, body)
		})
	}
	wg.Wait()
	return mt
}

// check waits until every transfer ended as it should, then checks the
// money: each movement happened once, the balances add up, and no transfer
// recorded an event twice.
func (mt manyTransfers) check(t *testing.T, r *rig) {
	want := map[string]int{}
	for id, req := range mt {
		status := transfer.StatusCompleted
		switch {
		case strings.HasPrefix(id, "ok-"):
			want[id+" MoneyWithdrawn "+req.From], want[id+" MoneyDeposited "+req.To] = 1, 1
		case strings.HasPrefix(id, "frozen-"):
			status = transfer.StatusFailed
			want[id+" MoneyWithdrawn "+req.From], want[id+" MoneyDeposited "+req.From] = 1, 1
		default:
			status = transfer.StatusFailed
		}
		testkit.Eventually(t, 60*time.Second, func() bool {
			return r.transferView(id).Status == status
		}, "transfer %s ends %s", id, status)
	}
	moves := map[string]int{}
	for _, acc := range []string{"a", "b", "c", "d"} {
		for _, ev := range r.events("account", acc) {
			if ev.CorrelationID != "" && (ev.Type == "MoneyDeposited" || ev.Type == "MoneyWithdrawn") {
				moves[ev.CorrelationID+" "+ev.Type+" "+acc]++
			}
		}
	}
	assert.Equal(t, want, moves, "each movement once")
	// 20 transfers of 10 from a to b, 10 from b to a; the frozen ones refunded.
	wantBalances := map[string]int64{"a": 900, "b": 1100, "c": 0, "d": 0}
	balances := map[string]int64{}
	testkit.Eventually(t, 20*time.Second, func() bool {
		for acc := range wantBalances {
			var v account.View
			if !r.query("query.account.get", map[string]any{"id": acc}, &v) {
				return false
			}
			balances[acc] = v.Balance
		}
		return maps.Equal(balances, wantBalances)
	}, "balances %v", wantBalances)
	for id := range mt {
		types := map[string]int{}
		for _, ev := range r.events("transfer", id) {
			types[ev.Type]++
		}
		for typ, n := range types {
			assert.Equal(t, 1, n, "transfer %s recorded %s %d times", id, typ, n)
		}
	}
}

// lastSequence is the last sequence of the event stream.
func lastSequence(t *testing.T, r *rig) uint64 {
	s, err := r.store.JetStream().Stream(context.Background(), r.store.StreamName())
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.State.LastSeq
}

// An event of a transfer that comes again after a later one was handled (a
// redelivery after a failover, or a lost acknowledgement) changes nothing:
// the manager decides from the transfer's state, not from the event, and
// the aggregate makes each choice once. Here every event is followed by
// every earlier event of its transfer, the latest first, while forty
// transfers run at once over the same accounts: each still moves its money
// once and ends as it should.
func TestEarlierEventsHandledAfterLaterOnesChangeNothing(t *testing.T) {
	r := startRig(t)
	p, err := transfer.Process(r.store, 30*time.Second)
	require.NoError(t, err)
	react := p.React
	var mu sync.Mutex
	stale := 0
	p.React = func(ctx context.Context, c *process.Commands, ev streams.Recorded) error {
		if err := react(ctx, c, ev); err != nil {
			return err
		}
		var earlier []streams.Recorded
		for e, err := range r.store.Read(ctx, ev.Ref, streams.Position{}, streams.Until{Version: ev.Version - 1}) {
			if err != nil {
				return err
			}
			earlier = append(earlier, e)
		}
		for i := len(earlier) - 1; i >= 0; i-- {
			if err := react(ctx, c, earlier[i]); err != nil {
				return err
			}
		}
		mu.Lock()
		stale += len(earlier)
		mu.Unlock()
		return nil
	}
	m, err := process.New(r.n.Connect(), r.store, p, process.Options{PinnedTTL: time.Second, AckWait: 5 * time.Second, Logger: r.log})
	require.NoError(t, err)
	r.run("process manager", m.Run)
	mt := startManyTransfers(r)
	mt.check(t, r)
	mu.Lock()
	assert.Greater(t, stale, 100, "earlier events were handled again")
	mu.Unlock()
}

// A replay of every transfer's events (a crash replays those since the last
// acknowledgement; here a second consumer replays them all, concurrently)
// sends the same command ids, which the writer answers as it did the first
// time: nothing is appended.
func TestAReplayAppendsNothing(t *testing.T) {
	r := startRig(t)
	stop := r.manager(30 * time.Second)
	mt := startManyTransfers(r)
	mt.check(t, r)
	stop()
	last := lastSequence(t, r)

	p, err := transfer.Process(r.store, 30*time.Second)
	require.NoError(t, err)
	var mu sync.Mutex
	replayed := 0
	react := p.React
	p.React = func(ctx context.Context, c *process.Commands, ev streams.Recorded) error {
		err := react(ctx, c, ev)
		if err == nil {
			mu.Lock()
			replayed++
			mu.Unlock()
		}
		return err
	}
	m, err := process.New(r.n.Connect(), r.store, p, process.Options{Deployment: "replay", PinnedTTL: time.Second, Logger: r.log})
	require.NoError(t, err)
	r.run("replaying manager", m.Run)
	events := 0
	for id := range mt {
		events += len(r.events("transfer", id))
	}
	var consumer jetstream.Consumer
	testkit.Eventually(t, 60*time.Second, func() bool {
		mu.Lock()
		n := replayed
		mu.Unlock()
		if n < events {
			return false
		}
		if consumer == nil {
			consumer, err = r.store.JetStream().Consumer(context.Background(), r.store.StreamName(),
				process.ConsumerName("replay", transfer.ProcessName, false))
			require.NoError(t, err)
		}
		info, err := consumer.Info(context.Background())
		require.NoError(t, err)
		return info.NumPending == 0 && info.NumAckPending == 0
	}, "the replay handled and acknowledged every event (%d)", events)
	assert.Equal(t, last, lastSequence(t, r), "nothing appended")
	mt.check(t, r)
}
