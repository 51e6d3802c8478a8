package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// A forged event with a repeated version poisons the projection (named in
// its status, never applied); the documented correction, voiding the event
// and rebuilding, restores service with the forged event skipped. Nothing
// is deleted from the stream.
func TestVoidedEventIsSkippedAfterTheCorrection(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.add("account", "c1", account.AccountOpened{Owner: "o"}, account.MoneyDeposited{Amount: 10})
	r := e.runner()
	start(t, r)
	e.caughtUp()

	forged := nats.NewMsg("events.account.c1")
	forged.Header.Set(streams.HeaderType, "MoneyDeposited")
	forged.Header.Set(streams.HeaderVersion, "2")
	forged.Data = []byte(`{"amount":1000000}`)
	ack, err := e.js.PublishMsg(ctx, forged)
	require.NoError(t, err)
	testkit.Eventually(t, 10*time.Second, func() bool {
		s, _ := projections.Status(ctx, e.rdb, account.ProjectionName)
		return s["state"] == "failed"
	}, "the forged event poisons the projection")

	ref, _ := streams.NewRef("account", "c1")
	_, err = e.store.VoidEvent(ctx, ref, streams.Sequence(ack.Sequence), "forged deposit")
	require.NoError(t, err)
	require.NoError(t, r.Rebuild(ctx, account.ProjectionName))
	e.add("account", "c2", account.AccountOpened{Owner: "p"})
	e.caughtUp()
	s, err := projections.Status(ctx, e.rdb, account.ProjectionName)
	require.NoError(t, err)
	assert.Equal(t, "running", s["state"])
	a, _, err := getAccount(ctx, e.rdb, "c1")
	require.NoError(t, err)
	assert.Equal(t, int64(10), a.Balance, "the forged million is skipped")
	assert.Equal(t, uint64(3), a.Version, "the correction took version 3")
}
