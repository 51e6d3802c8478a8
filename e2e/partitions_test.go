package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	accountdomain "github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// partitionLeases returns, for each runner holding partitions of the n
// partitions of projection name, how many it holds.
func partitionLeases(ctx context.Context, rdb *redis.Client, name string, n int) map[string]int {
	out := map[string]int{}
	for p := range n {
		if holder, err := rdb.Get(ctx, projections.PartitionKeys(name, p, n).Lease()).Result(); err == nil {
			out[holder]++
		}
	}
	return out
}

// split reports whether the leases are held by want runners, evenly.
func split(leases map[string]int, n, want int) bool {
	total := 0
	for _, c := range leases {
		if c != n/want {
			return false
		}
		total += c
	}
	return len(leases) == want && total == n
}

func TestTwoProjectorProcessesShareEightPartitionsAndTakeOverAfterSIGKILL(t *testing.T) {
	const partitions = 8
	const lease = 2 * time.Second
	bin := binaries(t)
	natsURL, nc := startNATSServer(t, bin)
	rd := testkit.StartRedis(t)
	rdb := rd.Client(t)
	ctx := context.Background()
	store, err := streams.Open(ctx, nc)
	require.NoError(t, err)

	env := []string{"NATS_URL=" + natsURL, "REDIS_URL=" + rd.URL, "JETSOURCE_LOG_LEVEL=warn",
		fmt.Sprintf("JETSOURCE_PROJECTOR_PARTITIONS=%s=%d", accountdomain.ProjectionName, partitions),
		"JETSOURCE_PROJECTOR_LEASE_TTL=" + lease.String(), "JETSOURCE_PROJECTOR_FETCH_WAIT=200ms"}
	projector := filepath.Join(bin, "projector")

	// Accounts change all along, so that every partition has work while
	// the processes come and go.
	var (
		mu       sync.Mutex
		pos      = map[string]streams.Position{}
		stopLoad = make(chan struct{})
		load     sync.WaitGroup
	)
	appendTo := func(id string, ev any) error {
		ref, err := streams.NewRef(accountdomain.Type, id)
		if err != nil {
			return err
		}
		enc, err := accountdomain.Events().Encode(ev)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		res, err := store.Append(ctx, ref, pos[id], []streams.Event{{Type: enc.Type, Schema: enc.Schema, Data: enc.Data}})
		if err != nil {
			return fmt.Errorf("append to %s: %w", id, err)
		}
		pos[id] = res.Position
		return nil
	}
	const accounts = 64
	for i := range accounts {
		require.NoError(t, appendTo(fmt.Sprintf("acc-%02d", i), accountdomain.AccountOpened{Owner: "o"}))
	}
	load.Add(1)
	go func() {
		defer load.Done()
		for i := 0; ; i++ {
			select {
			case <-stopLoad:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if err := appendTo(fmt.Sprintf("acc-%02d", i%accounts), accountdomain.MoneyDeposited{Amount: int64(i%7 + 1)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()

	first := start(t, "projector-1", projector, env)
	start(t, "projector-2", projector, env)
	testkit.Eventually(t, 60*time.Second, func() bool {
		return split(partitionLeases(ctx, rdb, accountdomain.ProjectionName, partitions), partitions, 2)
	},
		"two projector processes hold 4 of the 8 partitions each")
	before := partitionLeases(ctx, rdb, accountdomain.ProjectionName, partitions)

	// SIGKILL one: it releases nothing; the other takes its partitions
	// once their leases expire.
	first.kill(t)
	killedAt := time.Now()
	testkit.Eventually(t, 60*time.Second, func() bool {
		return split(partitionLeases(ctx, rdb, accountdomain.ProjectionName, partitions), partitions, 1)
	},
		"the projector left holds all 8 partitions")
	t.Logf("all partitions taken %v after the SIGKILL (lease %v)", time.Since(killedAt).Round(100*time.Millisecond), lease)
	after := partitionLeases(ctx, rdb, accountdomain.ProjectionName, partitions)
	for holder := range after {
		assert.Contains(t, before, holder, "the survivor (not a newcomer) took them")
	}

	// Started again, it gets its share back.
	start(t, "projector-1-again", projector, env)
	testkit.Eventually(t, 60*time.Second, func() bool {
		return split(partitionLeases(ctx, rdb, accountdomain.ProjectionName, partitions), partitions, 2)
	},
		"the partitions rebalance over the two processes")
	rebalanced := partitionLeases(ctx, rdb, accountdomain.ProjectionName, partitions)
	for holder := range after {
		assert.Contains(t, rebalanced, holder, "the survivor keeps its share")
	}

	close(stopLoad)
	load.Wait()
	want := foldAccounts(t, store.JetStream())
	var got []accountdomain.View
	testkit.Eventually(t, 60*time.Second, func() bool {
		got, _, err = projections.Read(ctx, rdb, accountdomain.ProjectionName, func(ctx context.Context, v *projections.View) ([]accountdomain.View, error) {
			return accountdomain.List(ctx, v, accounts+1, "")
		})
		if err != nil || len(got) != len(want) {
			return false
		}
		for _, a := range got {
			if want[a.ID] != a {
				return false
			}
		}
		return true
	}, "the read model ends equal to the fold of the stream")
	n, err := rdb.Get(ctx, projections.KeysOf(accountdomain.ProjectionName).PartitionsKey()).Int()
	require.NoError(t, err)
	assert.Equal(t, partitions, n, "the partition count is recorded")
}

// foldAccounts folds every account event of the stream into the accounts
// they make.
func foldAccounts(t *testing.T, js jetstream.JetStream) map[string]accountdomain.View {
	t.Helper()
	out := map[string]accountdomain.View{}
	testkit.Fold(t, js, streams.DefaultStream, "events.account.>", func(ev streams.Recorded) {
		a := out[ev.Ref.ID()]
		a.ID, a.Version = ev.Ref.ID(), uint64(ev.Version)
		d, err := accountdomain.Events().Decode(ev.Type, ev.Schema, ev.Data)
		if err != nil {
			t.Fatalf("decode %s: %v", ev.Type, err)
		}
		switch d := d.(type) {
		case accountdomain.AccountOpened:
			a.Owner = d.Owner
		case accountdomain.MoneyDeposited:
			a.Balance += d.Amount
		case accountdomain.MoneyWithdrawn:
			a.Balance -= d.Amount
		}
		out[a.ID] = a
	})
	return out
}
