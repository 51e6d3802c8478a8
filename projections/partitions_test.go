package projections_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/order"
	"github.com/jetsource/jetsource/domain/product"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// partitionedSamples are the sample projections, those read by aggregate
// (accounts, products, orders) in n partitions; users, read by username,
// stay in one.
func partitionedSamples(n int) []projections.Projection {
	ps := samples.Projections()
	for i := range ps {
		switch ps[i].Name {
		case account.ProjectionName, product.ProjectionName, order.ProjectionName:
			ps[i].Partitions = n
		}
	}
	return ps
}

// partitionedRunner is a runner of the sample projections in n partitions.
func (e *env) partitionedRunner(n int, opts ...projections.Option) *projections.Runner {
	e.t.Helper()
	opts = append([]projections.Option{projections.WithFetchWait(50 * time.Millisecond)}, opts...)
	r, err := projections.NewRunner(e.js, e.rdb, partitionedSamples(n), opts...)
	require.NoError(e.t, err)
	return r
}

func TestPartitionedProjectionKeepsEachAggregateInItsPartition(t *testing.T) {
	e := newEnv(t)
	const n = 4
	ids := make([]string, 40)
	for i := range ids {
		ids[i] = fmt.Sprintf("acc-%d", i)
		e.add("account", ids[i], account.AccountOpened{Owner: ids[i]}, account.MoneyDeposited{Amount: int64(i)})
	}
	start(t, e.partitionedRunner(n))
	e.caughtUp()
	ctx := context.Background()
	assert.Equal(t, "4", e.rdb.Get(ctx, projections.KeysOf(account.ProjectionName).PartitionsKey()).Val(), "count recorded")
	used := map[int]int{}
	for _, id := range ids {
		ref, err := streams.NewRef(account.Type, id)
		require.NoError(t, err)
		home := projections.PartitionOf(ref, n)
		used[home]++
		for p := range n {
			keys := projections.PartitionKeys(account.ProjectionName, p, n)
			g, err := e.rdb.Get(ctx, keys.Generation()).Int64()
			require.NoError(t, err)
			exists := e.rdb.Exists(ctx, keys.Space(g).Key("account", id)).Val() == 1
			assert.Equal(t, p == home, exists, "account %s in partition %d (its own: %d)", id, p, home)
		}
	}
	assert.Len(t, used, n, "40 accounts spread over every partition")
	// Every partition's checkpoint moved to the end, the other
	// partitions' events included.
	for p := range n {
		keys := projections.PartitionKeys(account.ProjectionName, p, n)
		g, _ := e.rdb.Get(ctx, keys.Generation()).Int64()
		cp, _ := e.rdb.Get(ctx, keys.Checkpoint(g)).Uint64()
		assert.Equal(t, e.lastSeq(), cp, "checkpoint of partition %d", p)
	}
	// Each partition has its consumer; the projection's lag is the largest
	// of theirs: 0 once all caught up.
	for p := range n {
		_, err := e.js.Consumer(ctx, "EVENTS", fmt.Sprintf("jetsource_proj_accounts-%d", p))
		require.NoError(t, err, "consumer of partition %d", p)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		lag, err := projections.Lag(ctx, e.js, "EVENTS", "", e.rdb, func(context.Context) (uint64, error) { return e.lastSeq(), nil }, account.ProjectionName)
		return err == nil && lag == 0
	}, "the lag of every partition comes back to 0")
	// A partition is read for one aggregate only.
	v, err := projections.NewViews(e.rdb).View(ctx, account.ProjectionName)
	require.NoError(t, err)
	assert.Equal(t, n, v.Partitions())
	_, err = v.HGetAll(ctx, "x")
	require.ErrorIs(t, err, projections.ErrPartitioned, "the whole View is not read")
}

// foldProducts folds the products of the stream.
func (e *env) foldProducts() map[string]product.View {
	e.t.Helper()
	out := map[string]product.View{}
	e.fold("events.product.>", func(ev streams.Recorded) {
		p := out[ev.Ref.ID()]
		p.ID, p.Version = ev.Ref.ID(), uint64(ev.Version)
		switch d := must(product.Events().Decode(ev.Type, ev.Schema, ev.Data)).(type) {
		case product.ProductRegistered:
			p.Name = d.Name
		case product.StockReceived:
			p.Stock += d.Quantity
		case product.StockRemoved:
			p.Stock -= d.Quantity
		}
		out[p.ID] = p
	})
	return out
}

// fold hands every event of subject in the stream to apply, in order.
func (e *env) fold(subject string, apply func(streams.Recorded)) {
	e.t.Helper()
	testkit.Fold(e.t, e.js, "EVENTS", subject, apply)
}

func TestEverySampleQueryOnFourPartitionsEqualsTheFold(t *testing.T) {
	e := newEnv(t)
	var lastProduct streams.Sequence
	for i := range 30 {
		pid := fmt.Sprintf("p-%02d", i)
		evs := []any{product.ProductRegistered{Name: strings.ToUpper(pid)}}
		if i%5 != 0 {
			evs = append(evs, product.StockReceived{Quantity: int64(i%7) + 2}, product.StockRemoved{Quantity: 2})
		}
		lastProduct = e.add("product", pid, evs...)
		e.add("order", fmt.Sprintf("o-%02d", i), order.OrderPlaced{}, order.OrderItemAdded{ItemID: "i1", Quantity: int64(i + 1)})
	}
	for i := range 30 {
		id := fmt.Sprintf("acc-%02d", i)
		e.add("account", id, account.AccountOpened{Owner: id}, account.MoneyDeposited{Amount: int64(10 * i)}, account.MoneyWithdrawn{Amount: 3})
	}
	start(t, e.partitionedRunner(4))
	e.caughtUp()
	ctx := context.Background()

	accounts := e.foldAccounts()
	ids := make([]string, 0, len(accounts))
	for id := range accounts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		got, _, err := getAccount(ctx, e.rdb, id)
		require.NoError(t, err)
		assert.Equal(t, accounts[id], got)
	}
	// Pages of every size walk the accounts in id order, across
	// partitions.
	for _, limit := range []int{1, 3, 7, 30, 100} {
		var walked []string
		after := ""
		for {
			page, _, err := projections.Read(ctx, e.rdb, account.ProjectionName, func(ctx context.Context, v *projections.View) ([]account.View, error) {
				return account.List(ctx, v, limit, after)
			})
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), limit)
			for _, a := range page {
				assert.Equal(t, accounts[a.ID], a)
				walked = append(walked, a.ID)
			}
			if len(page) < limit {
				break
			}
			after = page[len(page)-1].ID
		}
		assert.Equal(t, ids, walked, "limit %d", limit)
	}

	products := e.foldProducts()
	for _, below := range []int64{0, 1, 3, 6, 100} {
		var want []product.View
		for _, p := range products {
			if p.Stock < below {
				want = append(want, p)
			}
		}
		slices.SortFunc(want, func(a, b product.View) int { return cmp.Or(cmp.Compare(a.Stock, b.Stock), strings.Compare(a.ID, b.ID)) })
		for _, limit := range []int{1, 4, 50} {
			got, cp, err := projections.Read(ctx, e.rdb, product.ProjectionName, func(ctx context.Context, v *projections.View) ([]product.View, error) {
				return product.LowStock(ctx, v, below, limit)
			})
			require.NoError(t, err)
			expected := want[:min(limit, len(want))]
			if len(expected) == 0 {
				assert.Empty(t, got, "below %d limit %d", below, limit)
				continue
			}
			assert.Equal(t, expected, got, "below %d limit %d", below, limit)
			assert.Equal(t, uint64(lastProduct), cp, "the answer reflects every product event")
		}
	}
	for id, want := range products {
		got, _, err := projections.Read(ctx, e.rdb, product.ProjectionName, func(ctx context.Context, v *projections.View) (product.View, error) {
			return product.Get(ctx, v, id)
		})
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	for i := range 30 {
		id := fmt.Sprintf("o-%02d", i)
		o, _, err := projections.Read(ctx, e.rdb, order.ProjectionName, func(ctx context.Context, v *projections.View) (order.View, error) { return order.Get(ctx, v, id) })
		require.NoError(t, err)
		assert.Equal(t, []order.Item{{ItemID: "i1", Quantity: int64(i + 1)}}, o.Items)
	}
	_, _, err := projections.Read(ctx, e.rdb, order.ProjectionName, func(ctx context.Context, v *projections.View) (order.View, error) { return order.Get(ctx, v, "nope") })
	require.ErrorIs(t, err, projections.ErrNotFound)

	// A rebuild works across the partitions: each is built into its next
	// generation and switched; the models stay the fold.
	require.NoError(t, e.partitionedRunner(4).Rebuild(ctx, account.ProjectionName))
	for p := range 4 {
		assert.Equal(t, "2", e.rdb.Get(ctx, projections.PartitionKeys(account.ProjectionName, p, 4).Generation()).Val(), "partition %d switched", p)
	}
	e.assertAccountsAreTheFold()
	rep, err := projections.Inspect(ctx, e.rdb, account.ProjectionName)
	require.NoError(t, err)
	assert.Len(t, rep.Partitions, 4)
	assert.Equal(t, projections.StateRunning, rep.State)
	assert.Equal(t, e.lastSeq(), rep.Reached)
}

func TestChangingThePartitionCountIsRefused(t *testing.T) {
	e := newEnv(t)
	e.add("account", "a1", account.AccountOpened{Owner: "a"})
	stop := start(t, e.runner())
	e.caughtUp()
	stop()
	ctx := context.Background()
	err := e.partitionedRunner(4).Run(ctx)
	require.ErrorIs(t, err, projections.ErrPartitionCount)
	assert.Contains(t, err.Error(), "projection accounts is configured with 4 partitions, but its read model is kept in 1")

	e2 := newEnv(t)
	e2.add("account", "a1", account.AccountOpened{Owner: "a"})
	stop = start(t, e2.partitionedRunner(4))
	e2.caughtUp()
	stop()
	err = e2.partitionedRunner(8).Run(ctx)
	require.ErrorIs(t, err, projections.ErrPartitionCount)
	assert.Contains(t, err.Error(), "configured with 8 partitions, but its read model is kept in 4")
	err = e2.runner().Run(ctx)
	require.ErrorIs(t, err, projections.ErrPartitionCount, "back to one partition is refused too")
}

// held is how many partitions of accounts each runner holds.
func held(rs ...*projections.Runner) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = r.Held()[account.ProjectionName]
	}
	return out
}

func TestRunnersShareThePartitionsAndTakeOverThoseOfOneThatStops(t *testing.T) {
	e := newEnv(t)
	const lease = time.Second
	opts := []projections.Option{projections.WithLeaseTTL(lease), projections.WithFetchWait(100 * time.Millisecond)}
	stopTraffic := make(chan struct{})
	wg := traffic(e, 30, stopTraffic)
	a, b := e.partitionedRunner(8, opts...), e.partitionedRunner(8, opts...)
	start(t, a)
	stopB := start(t, b)
	testkit.Eventually(t, 30*time.Second, func() bool { h := held(a, b); return h[0] == 4 && h[1] == 4 },
		"two runners split 8 partitions 4 and 4")

	stopB()
	testkit.Eventually(t, 30*time.Second, func() bool { return held(a)[0] == 8 },
		"the runner left takes all 8 partitions")

	c := e.partitionedRunner(8, opts...)
	start(t, c)
	testkit.Eventually(t, 30*time.Second, func() bool { h := held(a, c); return h[0] == 4 && h[1] == 4 },
		"a runner that joins gets its share")
	close(stopTraffic)
	wg.Wait()
	e.caughtUp()
	e.assertAccountsAreTheFold()
	// Every partition's lease is held by one of the two.
	ctx := context.Background()
	for p := range 8 {
		assert.NotEmpty(t, e.rdb.Get(ctx, projections.PartitionKeys(account.ProjectionName, p, 8).Lease()).Val(), "partition %d leased", p)
	}
}
