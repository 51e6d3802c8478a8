package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/service"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// rebuildReply is a decoded answer to a rebuild request.
type rebuildReply struct {
	status string // Nats-Service-Error-Code, "" on success
	Error  struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Rebuilt string `json:"rebuilt"`
}

func requestRebuild(t *testing.T, nc *nats.Conn, name string) rebuildReply {
	t.Helper()
	msg, err := nc.Request(service.RebuildSubject+"."+name, nil, 30*time.Second)
	require.NoError(t, err)
	var r rebuildReply
	require.NoError(t, json.Unmarshal(msg.Data, &r), string(msg.Data))
	r.status = msg.Header.Get(micro.ErrorCodeHeader)
	if r.status != "" {
		assert.Equal(t, r.Error.Message, msg.Header.Get(micro.ErrorHeader))
	}
	return r
}

func TestOneRebuildAtATimeWhateverTheNumberOfProjectors(t *testing.T) {
	n := testkit.StartNATS(t)
	rdb := testkit.StartRedis(t).Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	store, err := streams.Open(ctx, n.Connect())
	require.NoError(t, err)
	opened, err := account.Events().Encode(account.AccountOpened{Owner: "o"})
	require.NoError(t, err)
	deposit, err := account.Events().Encode(account.MoneyDeposited{Amount: 7})
	require.NoError(t, err)
	var last streams.Sequence
	for i := range 20 {
		ref, err := streams.NewRef("account", fmt.Sprintf("a%d", i))
		require.NoError(t, err)
		events := []streams.Event{{Type: opened.Type, Data: opened.Data}}
		for range 20 {
			events = append(events, streams.Event{Type: deposit.Type, Data: deposit.Data})
		}
		res, err := store.Append(ctx, ref, streams.Position{}, events)
		require.NoError(t, err)
		last = res.Position.Sequence
	}

	// Two projectors, each with its runner and its rebuild endpoint.
	var running sync.WaitGroup
	t.Cleanup(func() { cancel(); running.Wait() })
	for range 2 {
		nc := n.Connect()
		r, err := projections.NewRunner(store.JetStream(), rdb, samples.Projections(),
			projections.WithFetchWait(50*time.Millisecond), projections.WithBatchSize(16))
		require.NoError(t, err)
		wait, err := service.ServeRebuilds(ctx, nc, r, "", slog.Default())
		require.NoError(t, err)
		require.NoError(t, nc.Flush())
		running.Go(func() { _ = r.Run(ctx) })
		running.Go(func() { _ = wait() })
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		_, cp, err := getAccount(ctx, rdb, "a0")
		return err == nil && cp >= uint64(last)
	}, "accounts caught up")
	client := n.Connect()

	requests, refusals := 0, 0
	r := requestRebuild(t, client, "nope")
	assert.Equal(t, "404", r.status)
	assert.Equal(t, "not_found", r.Error.Code)

	// While a rebuild runs (here: holds the lock), another is refused.
	lock := projections.KeysOf(account.ProjectionName).RebuildLock()
	require.NoError(t, rdb.Set(ctx, lock, "another projector", time.Minute).Err())
	r = requestRebuild(t, client, account.ProjectionName)
	assert.Equal(t, "409", r.status)
	assert.Equal(t, "conflict", r.Error.Code)
	assert.Contains(t, r.Error.Message, "already running")
	require.NoError(t, rdb.Del(ctx, lock).Err())
	requests, refusals = 2, 2

	// Requests at once: each is served by one projector, rebuilt or refused.
	for round := range 5 {
		replies := make([]rebuildReply, 3)
		var wg sync.WaitGroup
		for i := range replies {
			wg.Go(func() { replies[i] = requestRebuild(t, client, account.ProjectionName) })
		}
		wg.Wait()
		rebuilt := 0
		for _, r := range replies {
			requests++
			switch r.status {
			case "":
				rebuilt++
				assert.Equal(t, account.ProjectionName, r.Rebuilt)
			case "409":
				refusals++
				assert.Equal(t, "conflict", r.Error.Code)
			default:
				t.Errorf("round %d: %+v", round, r)
			}
		}
		assert.Positive(t, rebuilt, "round %d", round)
	}
	// The two projectors' stats count every rebuild when it is answered,
	// with each refusal as an error.
	var counted, failed int
	for _, st := range testkit.ServiceStats(t, client, service.ProjectorService, 2) {
		for _, e := range st.Endpoints {
			counted += e.NumRequests
			failed += e.NumErrors
		}
	}
	assert.Equal(t, requests, counted, "num_requests of the projectors")
	assert.Equal(t, refusals, failed, "num_errors of the projectors")
	for i := range 20 {
		a, _, err := getAccount(ctx, rdb, fmt.Sprintf("a%d", i))
		require.NoError(t, err)
		assert.Equal(t, int64(140), a.Balance)
		assert.Equal(t, uint64(21), a.Version)
	}
}

// getAccount reads an account as account.get does.
func getAccount(ctx context.Context, rdb redis.Cmdable, id string) (account.View, uint64, error) {
	return projections.Read(ctx, rdb, account.ProjectionName, func(ctx context.Context, v *projections.View) (account.View, error) {
		return account.Get(ctx, v, id)
	})
}
