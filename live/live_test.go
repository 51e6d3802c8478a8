package live_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/live"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// balanceQuery is a query defined here, not by a sample: ledger.balance
// {id} answers an account's balance alone, from the accounts projection.
var balanceQuery = reader.Query{Model: "ledger", Name: "balance", Projection: account.ProjectionName,
	Params: []reader.Param{{Name: "id", Type: reader.String, Required: true, ID: true}},
	Read: func(ctx context.Context, v *projections.View, p reader.Params) (any, error) {
		a, err := account.Get(ctx, v, p.String("id"))
		return map[string]int64{"balance": a.Balance}, err
	}}

// queries are the live queries of the tests: the account sample's and
// balanceQuery.
func queries() []reader.Query { return append(account.Queries(), balanceQuery) }

type env struct {
	t     testing.TB
	nc    *nats.Conn
	js    jetstream.JetStream
	store *streams.Store
	rdb   *redis.Client
	mu    sync.Mutex
	pos   map[streams.Ref]streams.Position
}

// newEnv starts NATS, Redis, the accounts projection (publishing notices
// when notify) and a live server.
func newEnv(t testing.TB, notify bool, opts ...live.Option) *env {
	n := testkit.StartNATS(t)
	nc := n.Connect()
	store, err := streams.Open(context.Background(), nc)
	require.NoError(t, err)
	e := &env{t: t, nc: nc, js: store.JetStream(), store: store, rdb: testkit.StartRedis(t).Client(t), pos: map[streams.Ref]streams.Position{}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ropts := []projections.Option{projections.WithLogger(quiet), projections.WithFetchWait(100 * time.Millisecond)}
	if notify {
		ropts = append(ropts, projections.WithCommitted(live.Notify(nc, "")))
	}
	runner, err := projections.NewRunner(e.js, e.rdb, []projections.Projection{account.Projection()}, ropts...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	e.startServer(opts...)
	return e
}

// startServer starts a live server (one more, when one runs) until the test
// ends.
func (e *env) startServer(opts ...live.Option) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := live.NewServer(ctx, e.nc, e.rdb, queries(), append([]live.Option{live.WithLogger(quiet)}, opts...)...)
	require.NoError(e.t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
	testkit.Eventually(e.t, 10*time.Second, func() bool {
		_, err := e.nc.Request(live.RequestSubject("none", "none"), nil, time.Second)
		return err == nil // a 404 once the server listens
	}, "the live server does not answer")
}

// add appends account events and returns the last sequence.
func (e *env) add(id string, events ...any) streams.Sequence {
	e.t.Helper()
	ref, err := streams.NewRef(account.Type, id)
	require.NoError(e.t, err)
	out := make([]streams.Event, len(events))
	for i, ev := range events {
		enc, err := account.Events().Encode(ev)
		require.NoError(e.t, err)
		out[i] = streams.Event{Type: enc.Type, Schema: enc.Schema, Data: enc.Data}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	res, err := e.store.Append(context.Background(), ref, e.pos[ref], out)
	require.NoError(e.t, err)
	e.pos[ref] = res.Position
	return res.Position.Sequence
}

// seen is what one subscriber received: sequence and balance of each
// update.
type seen struct {
	seq     uint64
	balance int64
	reset   bool
}

// caughtUp waits until the accounts projection applied every event added.
func (e *env) caughtUp() {
	e.t.Helper()
	info, err := e.js.Stream(context.Background(), streams.DefaultStream)
	require.NoError(e.t, err)
	last := info.CachedInfo().State.LastSeq
	testkit.Eventually(e.t, 30*time.Second, func() bool {
		_, cp, err := projections.Read(context.Background(), e.rdb, account.ProjectionName,
			func(ctx context.Context, v *projections.View) (struct{}, error) {
				_, err := v.HGetAll(ctx, v.Keys.Key("none"))
				return struct{}{}, err
			})
		return err == nil && cp >= last
	}, "the accounts projection did not reach sequence %d", last)
}

func balanceOf(t testing.TB, u live.Update) int64 {
	if u.Error != nil {
		return -1
	}
	var v struct{ Balance int64 }
	require.NoError(t, json.Unmarshal(u.Data, &v))
	return v.Balance
}

// collect reads sub until it sees want (or stop after n updates when n > 0).
func collect(t testing.TB, sub *live.Subscription, want int64, n int) []seen {
	var got []seen
	timeout := time.After(60 * time.Second)
	for {
		select {
		case u, ok := <-sub.Updates():
			if !ok {
				t.Errorf("subscription ended early: %v (got %v)", sub.Err(), got)
				return got
			}
			got = append(got, seen{u.Sequence, balanceOf(t, u), u.Reset})
			if (n > 0 && len(got) == n) || (n == 0 && got[len(got)-1].balance == want) {
				return got
			}
		case <-timeout:
			t.Errorf("no balance %d within 60 s; got %v", want, got)
			return got
		}
	}
}

// history reads the answers the stream holds for subject, as a subscriber
// sees them.
func (e *env) history(subject string) []seen {
	var out []seen
	for _, m := range e.rawHistory(subject) {
		out = append(out, seen{m.Sequence, balanceOf(e.t, live.Update{Data: m.Data, Error: m.Error}), false})
	}
	return out
}

// rawHistory reads the messages the stream holds for subject.
func (e *env) rawHistory(subject string) []live.Message {
	ctx := context.Background()
	cons, err := e.js.OrderedConsumer(ctx, live.DefaultStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	require.NoError(e.t, err)
	info, err := cons.Info(ctx)
	require.NoError(e.t, err)
	var out []live.Message
	for range info.NumPending {
		msg, err := cons.Next()
		require.NoError(e.t, err)
		var m live.Message
		require.NoError(e.t, json.Unmarshal(msg.Data(), &m))
		out = append(out, m)
	}
	return out
}

func assertIncreasing(t testing.TB, got []seen) {
	for i := 1; i < len(got); i++ {
		assert.Greater(t, got[i].seq, got[i-1].seq, "sequences must grow strictly: %v", got)
		assert.GreaterOrEqual(t, got[i].balance, got[i-1].balance, "deposits only: balances never fall: %v", got)
	}
}

func TestFiftySubscribersSeeTheSameBalancesInOrderAndAResumeCatchesUpExactly(t *testing.T) {
	e := newEnv(t, true)
	const accounts, perAccount, deposits = 5, 10, 40
	ctx := context.Background()
	ids := make([]string, accounts)
	for a := range ids {
		ids[a] = fmt.Sprintf("acc-%d", a)
		e.add(ids[a], account.AccountOpened{Owner: "o"})
	}
	e.caughtUp()
	subs := make([][]*live.Subscription, accounts)
	for a, id := range ids {
		for range perAccount {
			q := balanceQuery
			if len(subs[a])%2 == 0 {
				q = account.Queries()[0] // account.get: the sample's query
			}
			sub, err := live.Subscribe(ctx, e.nc, q.Model, q.Name, json.RawMessage(`{"id":"`+id+`"}`))
			require.NoError(t, err)
			t.Cleanup(sub.Close)
			subs[a] = append(subs[a], sub)
		}
	}
	want := int64(deposits * (deposits + 1) / 2)
	// One subscriber of each account leaves after its first two updates,
	// and resumes with its last sequence once the deposits are done.
	type leaver struct {
		first []seen
		q     reader.Query
	}
	leavers := make([]leaver, accounts)
	var wg sync.WaitGroup
	for a := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			leavers[a] = leaver{first: collect(t, subs[a][1], 0, 2), q: balanceQuery}
			subs[a][1].Close()
		}()
	}
	// Rounds of one deposit per account, each round applied before the
	// next, so that most deposits are a batch of their own and a balance
	// of their own (answers coalesce only what one batch, or one
	// recomputation, covers).
	for d := 1; d <= deposits; d++ {
		var writers sync.WaitGroup
		for _, id := range ids {
			writers.Add(1)
			go func() {
				defer writers.Done()
				e.add(id, account.MoneyDeposited{Amount: int64(d)})
			}()
		}
		writers.Wait()
		e.caughtUp()
	}
	wg.Wait()
	lists := make([][][]seen, accounts)
	for a := range ids {
		lists[a] = make([][]seen, perAccount)
		for i, sub := range subs[a] {
			if i == 1 {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				lists[a][i] = collect(t, sub, want, 0)
			}()
		}
	}
	wg.Wait()
	for a, id := range ids {
		// Every subscriber of an instance sees the answers on its subject,
		// all of them, in order, once each, ending at the final balance.
		for i, got := range lists[a] {
			if i == 1 {
				continue
			}
			require.NotEmpty(t, got)
			assertIncreasing(t, got)
			assert.Equal(t, want, got[len(got)-1].balance)
			assert.Equal(t, e.history(subs[a][i].Subject()), got, "subscriber %d of %s", i, id)
			ref := []int{0, 3}[i%2] // the first subscriber of the instance (1 left)
			assert.Equal(t, lists[a][ref], got, "subscribers %d and %d of one instance of %s see the same answers", ref, i, id)
		}
		t.Logf("%s: %d and %d answers for the two instances", id, len(lists[a][0]), len(lists[a][3]))
		l := leavers[a]
		sub, err := live.Subscribe(ctx, e.nc, l.q.Model, l.q.Name, json.RawMessage(`{"id":"`+id+`"}`), live.After(l.first[len(l.first)-1].seq))
		require.NoError(t, err)
		rest := collect(t, sub, want, 0)
		sub.Close()
		resumed := append(append([]seen{}, l.first...), rest...)
		assertIncreasing(t, resumed)
		for _, s := range rest {
			assert.False(t, s.reset, "a resume within the history is exact, no reset")
		}
		assert.Equal(t, e.history(sub.Subject()), resumed, "the resumed subscriber of %s caught up exactly", id)
	}
}
