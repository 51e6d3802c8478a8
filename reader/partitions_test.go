package reader_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/streams"
)

func TestWaitForOneAggregateNeedsOnlyItsPartition(t *testing.T) {
	const n = 4
	w := newWorld(t)
	ctx := context.Background()
	enc, err := account.Events().Encode(account.AccountOpened{Owner: "o"})
	require.NoError(t, err)
	var last streams.Sequence
	ids := make([]string, 12)
	for i := range ids {
		ids[i] = fmt.Sprintf("acc-%d", i)
		ref, err := streams.NewRef(account.Type, ids[i])
		require.NoError(t, err)
		res, err := w.store.Append(ctx, ref, streams.Position{}, []streams.Event{{Type: enc.Type, Schema: enc.Schema, Data: enc.Data}})
		require.NoError(t, err)
		last = res.Position.Sequence
	}
	// The partition of ids[0] is stuck: someone else holds its lease.
	stuck := projections.PartitionOfAggregate(account.Type, ids[0], n)
	require.NoError(t, w.rdb.Set(ctx, projections.PartitionKeys(account.ProjectionName, stuck, n).Lease(), "someone else", 0).Err())
	other := ""
	for _, id := range ids {
		if projections.PartitionOfAggregate(account.Type, id, n) != stuck {
			other = id
			break
		}
	}
	require.NotEmpty(t, other)

	ps := samples.Projections()
	for i := range ps {
		if ps[i].Name == account.ProjectionName {
			ps[i].Partitions = n
		}
	}
	r, err := projections.NewRunner(w.store.JetStream(), w.rdb, ps, projections.WithFetchWait(50*time.Millisecond))
	require.NoError(t, err)
	w.background(r.Run)
	w.serve([]reader.Option{reader.WithLastSequence(w.lastSequence())})

	a := ask(t, w.nc, "query.account.get", fmt.Sprintf(`{"id":%q,"min_sequence":%d,"wait_ms":10000}`, other, last))
	require.Equal(t, http.StatusOK, a.status, a.message)
	assert.Contains(t, string(a.data), other, "an aggregate of a partition that caught up is answered")

	a = ask(t, w.nc, "query.account.get", fmt.Sprintf(`{"id":%q,"min_sequence":%d,"wait_ms":300}`, ids[0], last))
	assert.Equal(t, http.StatusServiceUnavailable, a.status)
	assert.Equal(t, "stale", a.code)
	assert.Contains(t, a.message, fmt.Sprintf("%s/%d", account.ProjectionName, stuck), "the wait names the partition")

	a = ask(t, w.nc, "query.account.list", fmt.Sprintf(`{"min_sequence":%d,"wait_ms":300}`, last))
	assert.Equal(t, "stale", a.code, "a list spans every partition, the stuck one too")
}
