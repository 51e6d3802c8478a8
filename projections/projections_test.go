package projections_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/codec"
	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/order"
	"github.com/jetsource/jetsource/domain/product"
	"github.com/jetsource/jetsource/domain/user"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

type env struct {
	t     *testing.T
	nats  *testkit.NATS
	store *streams.Store
	js    jetstream.JetStream
	rdb   *redis.Client
	mu    sync.Mutex
	pos   map[streams.Ref]streams.Position
	regs  map[string]*codec.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	n := testkit.StartNATS(t)
	nc := n.Connect()
	store, err := streams.Open(context.Background(), nc)
	require.NoError(t, err)
	return &env{t: t, nats: n, store: store, js: store.JetStream(), rdb: testkit.StartRedis(t).Client(t),
		pos:  map[streams.Ref]streams.Position{},
		regs: map[string]*codec.Registry{"account": account.Events(), "order": order.Events(), "product": product.Events(), "user": user.Events()}}
}

// add appends typed events to an aggregate and returns the last sequence.
func (e *env) add(typ, id string, events ...any) streams.Sequence {
	e.t.Helper()
	ref, err := streams.NewRef(typ, id)
	require.NoError(e.t, err)
	out := make([]streams.Event, len(events))
	for i, ev := range events {
		enc, err := e.regs[typ].Encode(ev)
		require.NoError(e.t, err)
		out[i] = streams.Event{Type: enc.Type, Schema: enc.Schema, Data: enc.Data}
	}
	return e.addRaw(ref, out)
}

func (e *env) addRaw(ref streams.Ref, events []streams.Event) streams.Sequence {
	e.mu.Lock()
	defer e.mu.Unlock()
	res, err := e.store.Append(context.Background(), ref, e.pos[ref], events)
	require.NoError(e.t, err)
	e.pos[ref] = res.Position
	return res.Position.Sequence
}

func (e *env) runner(opts ...projections.Option) *projections.Runner {
	e.t.Helper()
	return e.runnerWith(nil, opts...)
}

// start runs r until the test ends or the returned stop is called.
func start(t *testing.T, r *projections.Runner) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func (e *env) lastSeq() uint64 {
	s, err := e.js.Stream(context.Background(), "EVENTS")
	require.NoError(e.t, err)
	info, err := s.Info(context.Background())
	require.NoError(e.t, err)
	return info.State.LastSeq
}

// caughtUp waits until every sample projection reached the stream's end.
func (e *env) caughtUp() {
	e.t.Helper()
	last := e.lastSeq()
	testkit.Eventually(e.t, 30*time.Second, func() bool {
		for _, name := range []string{account.ProjectionName, order.ProjectionName, product.ProjectionName, user.ProjectionName} {
			if r, err := projections.Reached(context.Background(), e.rdb, name); err != nil || r < last {
				return false
			}
		}
		return true
	}, "projections reach sequence %d", last)
}

// dump returns every key of the current generation of projection name,
// without the generation in the key, and its value.
func (e *env) dump(name string) map[string]string {
	e.t.Helper()
	ctx := context.Background()
	g, err := e.rdb.Get(ctx, projections.KeysOf(name).Generation()).Int64()
	require.NoError(e.t, err)
	prefix := projections.KeysOf(name).Gen(g)
	keys, err := e.rdb.Keys(ctx, prefix+"*").Result()
	require.NoError(e.t, err)
	out := map[string]string{}
	for _, k := range keys {
		short := strings.TrimPrefix(k, prefix)
		if short == "reached" {
			continue
		}
		switch e.rdb.Type(ctx, k).Val() {
		case "hash":
			h := e.rdb.HGetAll(ctx, k).Val()
			fields := make([]string, 0, len(h))
			for f, v := range h {
				fields = append(fields, f+"="+v)
			}
			sort.Strings(fields)
			out[short] = strings.Join(fields, ",")
		case "zset":
			out[short] = fmt.Sprint(e.rdb.ZRangeWithScores(ctx, k, 0, -1).Val())
		default:
			out[short] = e.rdb.Get(ctx, k).Val()
		}
	}
	return out
}

func TestSeedOrderExampleAndLowStock(t *testing.T) {
	e := newEnv(t)
	e.add("order", "7dd8", order.OrderPlaced{}, order.OrderItemAdded{ItemID: "9a37", Quantity: 3})
	e.add("order", "7dd8", order.OrderItemAdded{ItemID: "c52a", Quantity: 1})
	e.add("order", "7dd8", order.OrderItemRemoved{ItemID: "c52a"})
	e.add("order", "7dd8", order.OrderItemAdded{ItemID: "a974", Quantity: 10})
	e.add("order", "7dd8", order.OrderItemQuantityChanged{ItemID: "9a37", Quantity: 5})
	for id, stock := range map[string]int64{"pen": 3, "ink": 0, "pad": 12, "cap": 9, "box": 3} {
		evs := []any{product.ProductRegistered{Name: strings.ToUpper(id)}}
		if stock > 0 {
			evs = append(evs, product.StockReceived{Quantity: stock + 2}, product.StockRemoved{Quantity: 2})
		}
		e.add("product", id, evs...)
	}
	e.add("user", "u1", user.UserRegistered{Username: "ada", PasswordHash: "$2a$hash"})
	start(t, e.runner())
	e.caughtUp()
	ctx := context.Background()

	o, _, err := projections.Read(ctx, e.rdb, order.ProjectionName, func(ctx context.Context, v *projections.View) (order.View, error) { return order.Get(ctx, v, "7dd8") })
	require.NoError(t, err)
	assert.Equal(t, []order.Item{{ItemID: "9a37", Quantity: 5}, {ItemID: "a974", Quantity: 10}}, o.Items)
	assert.Equal(t, uint64(6), o.Version)

	low, cp, err := projections.Read(ctx, e.rdb, product.ProjectionName, func(ctx context.Context, v *projections.View) ([]product.View, error) {
		return product.LowStock(ctx, v, 10, 10)
	})
	require.NoError(t, err)
	var ids []string
	for _, p := range low {
		ids = append(ids, p.ID)
	}
	assert.Equal(t, []string{"ink", "box", "pen", "cap"}, ids, "stock < 10, lowest first, 0 included")
	assert.Positive(t, cp)
	low, _, err = projections.Read(ctx, e.rdb, product.ProjectionName, func(ctx context.Context, v *projections.View) ([]product.View, error) {
		return product.LowStock(ctx, v, 10, 2)
	})
	require.NoError(t, err)
	assert.Len(t, low, 2, "limit honoured")

	u, _, err := projections.Read(ctx, e.rdb, user.ProjectionName, func(ctx context.Context, v *projections.View) (user.View, error) { return user.Get(ctx, v, "ada") })
	require.NoError(t, err)
	assert.Equal(t, user.View{ID: "u1", Username: "ada"}, u)
	keys, _ := e.rdb.Keys(ctx, "*").Result()
	for _, k := range keys {
		if e.rdb.Type(ctx, k).Val() == "hash" {
			for _, v := range e.rdb.HGetAll(ctx, k).Val() {
				assert.NotContains(t, v, "$2a$", "no password hash on the read side (%s)", k)
			}
		}
	}
	_, _, err = projections.Read(ctx, e.rdb, order.ProjectionName, func(ctx context.Context, v *projections.View) (order.View, error) { return order.Get(ctx, v, "nope") })
	require.ErrorIs(t, err, projections.ErrNotFound)
}

// traffic appends account events until stop is closed.
func traffic(e *env, accounts int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("acc-%d", i%accounts)
			if i < accounts {
				e.add("account", id, account.AccountOpened{Owner: id})
				continue
			}
			e.add("account", id, account.MoneyDeposited{Amount: int64(i)}, account.MoneyWithdrawn{Amount: 1})
		}
	}()
	return &wg
}

func TestCancelMidBatchManyTimesEqualsFreshRebuild(t *testing.T) {
	e := newEnv(t)
	stopTraffic := make(chan struct{})
	wg := traffic(e, 20, stopTraffic)
	for cycle := range 20 {
		r := e.runner(projections.WithBatchSize(7))
		stop := start(t, r)
		time.Sleep(time.Duration(5+rand.IntN(40)) * time.Millisecond)
		stop()
		_ = cycle
	}
	close(stopTraffic)
	wg.Wait()
	r := e.runner(projections.WithBatchSize(7))
	start(t, r)
	e.caughtUp()
	live := e.dump(account.ProjectionName)
	require.NoError(t, r.Rebuild(context.Background(), account.ProjectionName))
	fresh := e.dump(account.ProjectionName)
	assert.Equal(t, fresh, live, "key for key")
	assert.Greater(t, len(live), 20)
}

func TestFlushAllRebuildsByItself(t *testing.T) {
	e := newEnv(t)
	for i := range 30 {
		e.add("account", fmt.Sprintf("a%d", i), account.AccountOpened{Owner: "o"}, account.MoneyDeposited{Amount: int64(i + 1)})
	}
	stop := start(t, e.runner())
	e.caughtUp()
	before := e.dump(account.ProjectionName)
	// Flushed under a running projector: it notices and rebuilds.
	require.NoError(t, e.rdb.FlushAll(context.Background()).Err())
	e.caughtUp()
	assert.Equal(t, before, e.dump(account.ProjectionName))
	// Flushed while no projector runs, then one starts.
	stop()
	require.NoError(t, e.rdb.FlushAll(context.Background()).Err())
	start(t, e.runner())
	e.caughtUp()
	assert.Equal(t, before, e.dump(account.ProjectionName))
}

func TestBlueGreenRebuildWhileQueriesRun(t *testing.T) {
	e := newEnv(t)
	const accounts = 20
	for i := range accounts {
		e.add("account", fmt.Sprintf("a%d", i), account.AccountOpened{Owner: "o"})
		for j := range 20 {
			e.add("account", fmt.Sprintf("a%d", i), account.MoneyDeposited{Amount: int64(j + 1)})
		}
	}
	r := e.runner(projections.WithBatchSize(16))
	start(t, r)
	e.caughtUp()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var queries, failures sync.Map
	for q := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for {
				select {
				case <-stop:
					queries.Store(q, n)
					return
				default:
				}
				id := fmt.Sprintf("a%d", n%accounts)
				a, _, err := getAccount(context.Background(), e.rdb, id)
				if err != nil || a.Balance != 210 || a.Version != 21 {
					failures.Store(fmt.Sprint(q, n), fmt.Sprintf("%s: %+v %v", id, a, err))
				}
				n++
			}
		}()
	}
	for range 3 {
		require.NoError(t, r.Rebuild(context.Background(), account.ProjectionName))
	}
	close(stop)
	wg.Wait()
	failures.Range(func(k, v any) bool {
		t.Errorf("query %v saw %v", k, v)
		return true
	})
	total := 0
	queries.Range(func(_, v any) bool { total += v.(int); return true })
	assert.Positive(t, total)
	g, err := e.rdb.Get(context.Background(), projections.KeysOf(account.ProjectionName).Generation()).Int64()
	require.NoError(t, err)
	assert.Equal(t, int64(4), g)
	old, _ := e.rdb.Keys(context.Background(), projections.KeysOf(account.ProjectionName).Gen(1)+"*").Result()
	assert.Empty(t, old, "old generation deleted")
}

func TestPoisonEventStopsOnlyItsProjection(t *testing.T) {
	e := newEnv(t)
	e.add("account", "ok", account.AccountOpened{Owner: "o"})
	ref, _ := streams.NewRef("account", "bad")
	poison := e.addRaw(ref, []streams.Event{{Type: "AccountOpened", Data: []byte(`{"owner":5}`)}})
	start(t, e.runner(projections.WithMaxRetries(2), projections.WithRetryBackoff(5*time.Millisecond)))
	e.add("product", "p1", product.ProductRegistered{Name: "pen"})
	ctx := context.Background()
	testkit.Eventually(t, 30*time.Second, func() bool {
		s, _ := projections.Status(ctx, e.rdb, account.ProjectionName)
		return s["state"] == "failed"
	}, "accounts projection fails")
	s, err := projections.Status(ctx, e.rdb, account.ProjectionName)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprint(poison), s["sequence"])
	assert.Equal(t, "events.account.bad", s["subject"])
	assert.Equal(t, "AccountOpened", s["type"])
	assert.Contains(t, s["error"], "decode AccountOpened")

	// The others keep up, also with events after the poison.
	last := e.add("product", "p2", product.ProductRegistered{Name: "ink"})
	testkit.Eventually(t, 30*time.Second, func() bool {
		r, _ := projections.Reached(ctx, e.rdb, product.ProjectionName)
		return r >= uint64(last)
	}, "products keep up")
	// Accounts stopped before the poison, never past it.
	a, cp, err := getAccount(ctx, e.rdb, "ok")
	require.NoError(t, err)
	assert.Equal(t, "o", a.Owner)
	assert.Less(t, cp, uint64(poison))
	_, _, err = getAccount(ctx, e.rdb, "bad")
	require.ErrorIs(t, err, projections.ErrNotFound)
}

func TestTwoRunnersAtOnceKeepModelsExact(t *testing.T) {
	e := newEnv(t)
	stopTraffic := make(chan struct{})
	wg := traffic(e, 10, stopTraffic)
	r1 := e.runner(projections.WithBatchSize(5), projections.WithLeaseTTL(300*time.Millisecond))
	r2 := e.runner(projections.WithBatchSize(5), projections.WithLeaseTTL(300*time.Millisecond))
	stop1 := start(t, r1)
	start(t, r2)
	time.Sleep(200 * time.Millisecond)
	stop1() // failover: r2 takes over
	time.Sleep(100 * time.Millisecond)
	close(stopTraffic)
	wg.Wait()
	e.caughtUp()
	live := e.dump(account.ProjectionName)
	require.NoError(t, r2.Rebuild(context.Background(), account.ProjectionName))
	assert.Equal(t, e.dump(account.ProjectionName), live)
}

// getAccount reads an account as account.get does.
func getAccount(ctx context.Context, rdb redis.Cmdable, id string) (account.View, uint64, error) {
	return projections.Read(ctx, rdb, account.ProjectionName, func(ctx context.Context, v *projections.View) (account.View, error) {
		return account.Get(ctx, v, id)
	})
}
