package projections_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/testkit"
)

// Two deployments on one NATS, each projecting into its own Redis: each
// keeps its own consumers, and restarting one never repositions or deletes
// the other's; both read models end equal to the stream.
func TestTwoDeploymentsOnOneNATSDoNotBreakEachOther(t *testing.T) {
	e := newEnv(t)
	other := testkit.StartRedis(t).Client(t)
	prod := e.runner()
	staging, err := projections.NewRunner(e.js, other, samples.Projections(),
		projections.WithDeployment("staging"), projections.WithFetchWait(50*time.Millisecond))
	require.NoError(t, err)
	start(t, prod)
	stopStaging := start(t, staging)
	for i := range 20 {
		e.add("account", "d"+string(rune('a'+i)), account.AccountOpened{Owner: "o"}, account.MoneyDeposited{Amount: int64(i + 1)})
	}
	e.caughtUp()
	ctx := context.Background()
	prodConsumer, err := e.js.Consumer(ctx, "EVENTS", "jetsource_proj_accounts")
	require.NoError(t, err)
	created := prodConsumer.CachedInfo().Created
	_, err = e.js.Consumer(ctx, "EVENTS", "jetsource_staging_proj_accounts")
	require.NoError(t, err, "the staging deployment has its own consumer")

	// Restart the staging fleet: it recreates its own consumers only.
	stopStaging()
	staging, err = projections.NewRunner(e.js, other, samples.Projections(),
		projections.WithDeployment("staging"), projections.WithFetchWait(50*time.Millisecond))
	require.NoError(t, err)
	start(t, staging)
	e.add("account", "late", account.AccountOpened{Owner: "o"}, account.MoneyDeposited{Amount: 99})
	e.caughtUp()
	info, err := prodConsumer.Info(ctx)
	require.NoError(t, err, "production's consumer is still there")
	assert.Equal(t, created, info.Created, "and was never recreated by the other deployment")

	last := e.lastSeq()
	testkit.Eventually(t, 20*time.Second, func() bool {
		r, err := projections.Reached(ctx, other, account.ProjectionName)
		return err == nil && r >= last
	}, "the staging read model caught up")
	for id, want := range e.foldAccounts() {
		for _, rdb := range []redis.Cmdable{e.rdb, other} {
			got, _, err := getAccount(ctx, rdb, id)
			require.NoError(t, err)
			assert.Equal(t, want.Balance, got.Balance, id)
		}
	}
}

// A projector never deletes a consumer it did not create: a consumer of
// the projector's name that someone else made is left alone and reported.
func TestProjectorNeverDeletesAConsumerItDidNotCreate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.js.CreateConsumer(ctx, "EVENTS", jetstream.ConsumerConfig{Durable: "jetsource_proj_accounts",
		Description: "an analytics job that happens to share the name", FilterSubjects: []string{"events.account.>"},
		AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	logs := &testkit.SyncBuffer{}
	r, err := projections.NewRunner(e.js, e.rdb, samples.Projections(), projections.WithFetchWait(50*time.Millisecond), projections.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	require.NoError(t, err)
	start(t, r)
	e.add("account", "f1", account.AccountOpened{Owner: "o"})
	testkit.Eventually(t, 10*time.Second, func() bool { return strings.Contains(logs.String(), "belongs to someone else") },
		"the runner reports the foreign consumer")
	c, err := e.js.Consumer(ctx, "EVENTS", "jetsource_proj_accounts")
	require.NoError(t, err, "the foreign consumer is still there")
	assert.Equal(t, "an analytics job that happens to share the name", c.CachedInfo().Config.Description)
}
