package writer_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/internal/testenv"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/writer"
)

// The writer's buckets (idempotency records, username reservations) follow
// the store's replicas: killing the node that holds them must lose neither.
func TestWriterBucketsFollowTheStoreReplicas(t *testing.T) {
	c := testenv.StartCluster(t, 3)
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
