package projections_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// largest keeps, per account, the largest balance it ever had: a read model
// that needs its own previous value (read, then write).
func largest(reads bool) projections.Projection {
	return projections.Projection{Name: "largest", Subjects: []string{"events.account.>"}, ReadsModel: reads,
		Apply: projections.Decoding(account.Events(), func(ctx context.Context, tx *projections.Tx, ev streams.Recorded, e any) error {
			key := tx.Keys.Key("largest", ev.Ref.ID())
			h, err := tx.Read().HMGet(ctx, key, "balance", "largest").Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			balance, top := toInt(h[0]), toInt(h[1])
			switch e := e.(type) {
			case account.MoneyDeposited:
				balance += e.Amount
			case account.MoneyWithdrawn:
				balance -= e.Amount
			}
			tx.HSet(ctx, key, "balance", balance, "largest", max(top, balance))
			return nil
		})}
}

func toInt(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// A projection that reads its own keys sees every earlier event's writes,
// also within one fetched batch: each event is its own transaction.
func TestProjectionThatReadsItsModelSeesEveryEarlierEvent(t *testing.T) {
	e := newEnv(t)
	e.add("account", "r1", account.AccountOpened{Owner: "o"}, account.MoneyDeposited{Amount: 50},
		account.MoneyDeposited{Amount: 30}, account.MoneyWithdrawn{Amount: 70}, account.MoneyDeposited{Amount: 10})
	start(t, e.runnerWith([]projections.Projection{largest(true)}, projections.WithBatchSize(100)))
	e.caughtUp()
	ctx := context.Background()
	last := e.lastSeq()
	testkit.Eventually(t, 10*time.Second, func() bool {
		r, err := projections.Reached(ctx, e.rdb, "largest")
		return err == nil && r >= last
	}, "largest caught up")
	got, _, err := projections.Read(ctx, e.rdb, "largest", func(ctx context.Context, v *projections.View) (map[string]string, error) {
		return v.HGetAll(ctx, v.Keys.Key("largest", "r1"))
	})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"balance": "20", "largest": "80"}, got)
}

// Reading the model without declaring it is a poison event that says so,
// not a silent read of stale state.
func TestReadingTheModelWithoutReadsModelIsPoisonThatSaysWhy(t *testing.T) {
	e := newEnv(t)
	e.add("account", "r2", account.AccountOpened{Owner: "o"})
	start(t, e.runnerWith([]projections.Projection{largest(false)}, projections.WithMaxRetries(projections.NoRetries)))
	testkit.Eventually(t, 10*time.Second, func() bool {
		s, _ := projections.Status(context.Background(), e.rdb, "largest")
		return s["state"] == "failed"
	}, "the projection stops")
	s, err := projections.Status(context.Background(), e.rdb, "largest")
	require.NoError(t, err)
	assert.Contains(t, s["error"], "does not set ReadsModel")
}
