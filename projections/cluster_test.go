package projections_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// accountsOn reads every account and the checkpoint they reflect.
func accountsOn(t *testing.T, rdb redis.Cmdable) ([]account.View, uint64) {
	t.Helper()
	all, cp, err := projections.Read(context.Background(), rdb, account.ProjectionName, func(ctx context.Context, v *projections.View) ([]account.View, error) {
		return account.List(ctx, v, account.MaxListLimit, "")
	})
	require.NoError(t, err)
	return all, cp
}

// generationKeys lists the keys of generation g of projection name on
// every master of the cluster.
func generationKeys(t *testing.T, rdb *redis.ClusterClient, name string, g int64) []string {
	t.Helper()
	var keys []string
	ch := make(chan []string, 16)
	require.NoError(t, rdb.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		k, err := m.Keys(ctx, projections.KeysOf(name).Gen(g)+"*").Result()
		ch <- k
		return err
	}))
	close(ch)
	for k := range ch {
		keys = append(keys, k...)
	}
	return keys
}

func TestOnARedisClusterALostCheckpointAndARebuildMoveToAFreshGenerationAndDeleteTheOld(t *testing.T) {
	rc := testkit.StartRedisCluster(t)
	rdb := rc.Client(t)
	ctx := context.Background()
	store, err := streams.Open(ctx, testkit.StartNATS(t).Connect())
	require.NoError(t, err)
	reg := account.Events()
	var last streams.Sequence
	for i := range 20 {
		ref, err := streams.NewRef("account", fmt.Sprintf("a%02d", i))
		require.NoError(t, err)
		var events []streams.Event
		for _, e := range []any{account.AccountOpened{Owner: "o"}, account.MoneyDeposited{Amount: int64(i + 1)}} {
			enc, err := reg.Encode(e)
			require.NoError(t, err)
			events = append(events, streams.Event{Type: enc.Type, Schema: enc.Schema, Data: enc.Data})
		}
		res, err := store.Append(ctx, ref, streams.Position{}, events)
		require.NoError(t, err)
		last = res.Position.Sequence
	}
	r, err := projections.NewRunner(store.JetStream(), rdb, samples.Projections(), projections.WithFetchWait(50*time.Millisecond))
	require.NoError(t, err)
	start(t, r)
	keys := projections.KeysOf(account.ProjectionName)
	caughtUpTo := func(seq streams.Sequence) {
		testkit.Eventually(t, 30*time.Second, func() bool {
			_, cp := accountsOn(t, rdb)
			return cp >= uint64(seq)
		}, "the accounts reach %d", seq)
	}
	caughtUpTo(last)
	before, _ := accountsOn(t, rdb)
	require.Len(t, before, 20)
	gen := rdb.Get(ctx, keys.Generation()).Val()

	// The checkpoint is lost (the model stays): the runner sees it by the
	// keys it knows by name and moves to a fresh generation.
	g1, err := rdb.Get(ctx, keys.Generation()).Int64()
	require.NoError(t, err)
	require.NoError(t, rdb.Del(ctx, keys.Checkpoint(g1)).Err())
	testkit.Eventually(t, 30*time.Second, func() bool { return rdb.Get(ctx, keys.Generation()).Val() != gen },
		"a fresh generation")
	caughtUpTo(last)
	after, _ := accountsOn(t, rdb)
	assert.Equal(t, before, after, "the fresh generation is the same model")
	assert.Empty(t, generationKeys(t, rdb, account.ProjectionName, g1), "the lost generation is deleted on every master")

	// A rebuild: blue/green, the old generation deleted on every master.
	g2, err := rdb.Get(ctx, keys.Generation()).Int64()
	require.NoError(t, err)
	require.NoError(t, r.Rebuild(ctx, account.ProjectionName))
	rebuilt, _ := accountsOn(t, rdb)
	assert.Equal(t, before, rebuilt)
	assert.Empty(t, generationKeys(t, rdb, account.ProjectionName, g2), "the old generation is deleted on every master")
	assert.Empty(t, rc.CrossSlot.Errors())
}
