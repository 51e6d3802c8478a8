package streams_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

func TestEveryStreamAndBucketFollowsTheConfiguredReplicas(t *testing.T) {
	c := testkit.StartCluster(t, 3)
	nc := c.Connect()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js, err := jetstream.New(nc)
	require.NoError(t, err)

	// A deployment that started on one replica: stream, snapshots and a
	// platform bucket all R1.
	cfg := streams.StreamConfig(streams.Options{Stream: "EVENTS", Replicas: 1, DuplicateWindow: streams.DefaultDuplicateWindow})
	_, err = js.CreateStream(ctx, cfg)
	require.NoError(t, err)
	_, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "SNAPSHOTS", History: 1, Storage: jetstream.FileStorage, Replicas: 1})
	require.NoError(t, err)
	_, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "OLD", History: 1, Storage: jetstream.FileStorage, Replicas: 1})
	require.NoError(t, err)

	store, err := streams.Open(ctx, nc, streams.WithReplicas(3), streams.WithTimeout(20*time.Second))
	require.NoError(t, err, "fewer replicas is reported and updated, not refused")
	_, err = store.Bucket(ctx, jetstream.KeyValueConfig{Bucket: "OLD", History: 1, Storage: jetstream.FileStorage})
	require.NoError(t, err)
	_, err = store.Bucket(ctx, jetstream.KeyValueConfig{Bucket: "NEW", History: 1, Storage: jetstream.FileStorage})
	require.NoError(t, err)

	for _, name := range []string{"EVENTS", "KV_SNAPSHOTS", "KV_OLD", "KV_NEW"} {
		s, err := js.Stream(ctx, name)
		require.NoError(t, err)
		info, err := s.Info(ctx)
		require.NoError(t, err)
		assert.Equal(t, 3, info.Config.Replicas, "%s has the configured replicas", name)
	}

	// And appends work on the replicated stream.
	ref, _ := streams.NewRef("account", "acc-1")
	res, err := store.Append(ctx, ref, streams.Position{}, []streams.Event{{Type: "AccountOpened", Data: []byte(`{}`)}})
	require.NoError(t, err)
	assert.Equal(t, streams.Version(1), res.Position.Version)
}

// LeaderSequence reads the aggregate's last sequence from the stream's
// leader: what a refusal is confirmed against.
func TestLeaderSequenceIsTheAggregatesLastSequence(t *testing.T) {
	c := testkit.StartCluster(t, 3)
	nc := c.Connect()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := streams.Open(ctx, nc, streams.WithReplicas(3), streams.WithTimeout(20*time.Second))
	require.NoError(t, err)
	ref, _ := streams.NewRef("account", "acc-9")
	seq, err := store.LeaderSequence(ctx, ref)
	require.NoError(t, err)
	assert.Zero(t, seq, "no event yet")
	res, err := store.Append(ctx, ref, streams.Position{}, []streams.Event{{Type: "AccountOpened", Data: []byte(`{}`)}, {Type: "MoneyDeposited", Data: []byte(`{}`)}})
	require.NoError(t, err)
	other, _ := streams.NewRef("account", "acc-10")
	_, err = store.Append(ctx, other, streams.Position{}, []streams.Event{{Type: "AccountOpened", Data: []byte(`{}`)}})
	require.NoError(t, err)
	seq, err = store.LeaderSequence(ctx, ref)
	require.NoError(t, err)
	assert.Equal(t, res.Position.Sequence, seq)
}
