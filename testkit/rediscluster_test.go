package testkit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/testkit"
)

// keysOnEveryMaster returns one key per master of c, hash-tagged so that
// each lives on another master.
func keysOnEveryMaster(t *testing.T, c *testkit.RedisCluster) []string {
	t.Helper()
	keys := make([]string, len(c.Masters))
	found := 0
	for i := 0; found < len(keys) && i < 1000; i++ {
		key := fmt.Sprintf("{tag%d}:k", i)
		m, err := c.MasterOf(key)
		require.NoError(t, err)
		if keys[m] == "" {
			keys[m] = key
			found++
		}
	}
	require.Equal(t, len(keys), found, "keys on every master: %v", keys)
	return keys
}

func testClusterKeepsOtherMastersKeysWhenOneLosesItsOwn(t *testing.T, c *testkit.RedisCluster) {
	rdb := c.Client(t)
	ctx := context.Background()
	keys := keysOnEveryMaster(t, c)
	for _, k := range keys {
		require.NoError(t, rdb.Set(ctx, k, "v", 0).Err())
	}

	// FLUSHALL of master 0: its key is gone, the others stay.
	require.NoError(t, c.FlushMaster(0))
	for i, k := range keys {
		n, err := rdb.Exists(ctx, k).Result()
		require.NoError(t, err)
		assert.Equal(t, map[bool]int64{true: 0, false: 1}[i == 0], n, "key %s of master %d after FLUSHALL of master 0", k, i)
	}

	// Master 1 crashes and comes back empty; the cluster heals and the
	// client finds it again.
	require.NoError(t, rdb.Set(ctx, keys[0], "v", 0).Err())
	require.NoError(t, c.Masters[1].Kill())
	require.NoError(t, c.Masters[1].Restart())
	require.NoError(t, c.WaitOK())
	testkit.Eventually(t, 30*time.Second, func() bool { return rdb.Set(ctx, keys[1], "again", 0).Err() == nil },
		"the restarted master takes writes")
	assert.Equal(t, "v", rdb.Get(ctx, keys[0]).Val(), "master 0's key")
	assert.Equal(t, "v", rdb.Get(ctx, keys[2]).Val(), "master 2's key")

	// One slot per command: the recorder sees a command over two slots.
	assert.Empty(t, c.CrossSlot.Errors())
	err := rdb.Do(ctx, "MGET", keys[0], keys[2]).Err()
	require.Error(t, err)
	assert.True(t, testkit.IsCrossSlot(err), "%v", err)
	assert.NotEmpty(t, c.CrossSlot.Errors(), "a CROSSSLOT error is recorded")
}

func TestRedisClusterKeepsOtherMastersKeysWhenOneLosesItsOwn(t *testing.T) {
	testClusterKeepsOtherMastersKeysWhenOneLosesItsOwn(t, testkit.StartRedisCluster(t))
}

func TestValkeyClusterKeepsOtherMastersKeysWhenOneLosesItsOwn(t *testing.T) {
	testClusterKeepsOtherMastersKeysWhenOneLosesItsOwn(t, testkit.StartValkeyCluster(t))
}
