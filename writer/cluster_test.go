package writer_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
	"github.com/jetsource/jetsource/writer"
)

// The writer's buckets (idempotency records, username reservations) follow
// the store's replicas: killing the node that holds them must lose neither.
func TestWriterBucketsFollowTheStoreReplicas(t *testing.T) {
	c := testkit.StartCluster(t, 3)
	nc := c.Connect()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := streams.Open(ctx, nc, streams.WithReplicas(3), streams.WithTimeout(20*time.Second))
	require.NoError(t, err)
	_, err = writer.New(nc, store, writer.WithTimeout(20*time.Second), writer.WithLogger(discardLogger()))
	require.NoError(t, err)
	for _, bucket := range []string{writer.CommandsBucket, writer.UniqueBucket} {
		s, err := store.JetStream().Stream(ctx, "KV_"+bucket)
		require.NoError(t, err)
		info, err := s.Info(ctx)
		require.NoError(t, err)
		assert.Equal(t, 3, info.Config.Replicas, bucket)
	}
}

// A named deployment's writer keeps its own buckets and service name, so
// that another deployment on the same NATS never shares its idempotency
// records or username reservations.
func TestDeploymentNamesTheWritersBucketsAndService(t *testing.T) {
	n := testkit.StartNATS(t)
	startWriter(t, n, writer.WithDeployment("staging"), writer.WithQueueGroup("jetsource-writer-staging"))
	nc := n.Connect()
	ok(t, nc, "cmd.account.open", `{"aggregate_id":"d1","command_id":"open-d1","data":{"owner":"ada"}}`)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	for _, bucket := range []string{"COMMANDS_staging", "UNIQUE_staging"} {
		_, err := js.KeyValue(ctx, bucket)
		assert.NoError(t, err, bucket)
	}
	_, err = js.KeyValue(ctx, writer.CommandsBucket)
	assert.ErrorIs(t, err, jetstream.ErrBucketNotFound, "the unnamed deployment's bucket is not touched")
	_, err = nc.Request("$SRV.PING.jetsource-writer-staging", nil, 5*time.Second)
	assert.NoError(t, err, "the service carries the deployment's name")
}
