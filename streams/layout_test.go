package streams_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// threeStreams is the layout of the multi-stream tests: one bounded context
// per stream.
var threeStreams = streams.Layout{
	{Name: "ACCOUNTS", Types: []string{"account", "tally"}},
	{Name: "ORDERS", Types: []string{"order"}},
	{Name: "PRODUCTS", Types: []string{"product", "user"}},
}

func TestLayoutValidation(t *testing.T) {
	cases := map[string]struct {
		layout streams.Layout
		want   string
	}{
		"type twice":           {streams.Layout{{Name: "A", Types: []string{"account"}}, {Name: "B", Types: []string{"account"}}}, "aggregate type account is in stream A and in stream B"},
		"stream twice":         {streams.Layout{{Name: "A", Types: []string{"account"}}, {Name: "A", Types: []string{"order"}}}, "stream A is listed twice"},
		"no types beside more": {streams.Layout{{Name: "A", Types: []string{"account"}}, {Name: "B"}}, "stream B lists no aggregate types"},
		"bad name":             {streams.Layout{{Name: "A.B", Types: []string{"account"}}}, `invalid stream name "A.B"`},
		"colon":                {streams.Layout{{Name: "A:B", Types: []string{"account"}}}, `invalid stream name "A:B"`},
		"bucket stream":        {streams.Layout{{Name: "KV_X", Types: []string{"account"}}}, "must not start with KV_"},
		"bad type":             {streams.Layout{{Name: "A", Types: []string{"Acc"}}}, `aggregate type "Acc" must match`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := c.layout.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	assert.NoError(t, threeStreams.Validate())
	assert.NoError(t, streams.Layout(nil).Validate())
}

func TestPositionsParseAndFormat(t *testing.T) {
	stream, seq, err := streams.ParsePosition(streams.FormatPosition("ORDERS", 42))
	require.NoError(t, err)
	assert.Equal(t, "ORDERS", stream)
	assert.Equal(t, streams.Sequence(42), seq)
	for _, bad := range []string{"", "ORDERS", "ORDERS:", ":5", "ORDERS:-1", "ORDERS:+1", "ORDERS:1.5", "OR.DERS:1", "ORDERS:1:2", "ORDERS: 1"} {
		_, _, err := streams.ParsePosition(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func TestProjectionSubjectsLieInOneStream(t *testing.T) {
	stream, err := threeStreams.StreamOfSubjects([]string{"events.account.>", "events.tally.*"})
	require.NoError(t, err)
	assert.Equal(t, "ACCOUNTS", stream)
	_, err = threeStreams.StreamOfSubjects([]string{"events.account.>", "events.order.>"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "span the streams ACCOUNTS, ORDERS")
	_, err = threeStreams.StreamOfSubjects([]string{"events.>"})
	assert.ErrorContains(t, err, "span the streams ACCOUNTS, ORDERS, PRODUCTS")
	_, err = threeStreams.StreamOfSubjects([]string{"events.invoice.>"})
	assert.ErrorContains(t, err, "lie in none of the streams")
	one, err := streams.Layout{{Name: "EVENTS"}}.StreamOfSubjects([]string{"events.>"})
	require.NoError(t, err)
	assert.Equal(t, "EVENTS", one)
}

// A process manager's subjects are grouped by the stream that holds them,
// wildcards of the type token spread to the types of every stream.
func TestProcessSubjectsGroupByStream(t *testing.T) {
	groups, err := threeStreams.SubjectsByStream([]string{"events.order.>", "events.account.>", "events.tally.*", "events.order.>"})
	require.NoError(t, err)
	assert.Equal(t, []streams.StreamSubjects{
		{Stream: "ACCOUNTS", Subjects: []string{"events.account.>", "events.tally.*"}},
		{Stream: "ORDERS", Subjects: []string{"events.order.>"}},
	}, groups)
	groups, err = threeStreams.SubjectsByStream([]string{"events.>"})
	require.NoError(t, err)
	assert.Equal(t, []streams.StreamSubjects{
		{Stream: "ACCOUNTS", Subjects: []string{"events.account.>", "events.tally.>"}},
		{Stream: "ORDERS", Subjects: []string{"events.order.>"}},
		{Stream: "PRODUCTS", Subjects: []string{"events.product.>", "events.user.>"}},
	}, groups)
	groups, err = threeStreams.SubjectsByStream([]string{"events.*.a1"})
	require.NoError(t, err)
	assert.Equal(t, []string{"events.order.a1"}, groups[1].Subjects)
	_, err = threeStreams.SubjectsByStream([]string{"events.order.>", "events.invoice.>"})
	require.ErrorIs(t, err, streams.ErrUnroutedType)
	assert.ErrorContains(t, err, "subject events.invoice.> is of aggregate type invoice, in none of the streams ACCOUNTS(account,tally) ORDERS(order) PRODUCTS(product,user)")
	_, err = threeStreams.SubjectsByStream([]string{"timers.x"})
	assert.ErrorContains(t, err, `subject "timers.x" is not an event subject`)
	one, err := streams.Layout{{Name: "EVENTS"}}.SubjectsByStream([]string{"events.transfer.>", "events.account.>"})
	require.NoError(t, err)
	assert.Equal(t, []streams.StreamSubjects{{Stream: "EVENTS", Subjects: []string{"events.transfer.>", "events.account.>"}}}, one)
}

// Three R3 streams on a 3-node cluster: each its own Raft group, the leaders
// on three different nodes, and every path of the store routed to the
// stream of the aggregate's type.
func TestLayoutOnAClusterSpreadsLeadersAndRoutesByType(t *testing.T) {
	c := testkit.StartCluster(t, 3)
	nc := c.Connect()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store, err := streams.Open(ctx, nc, streams.WithLayout(threeStreams), streams.WithReplicas(3),
		streams.WithTimeout(20*time.Second), streams.WithLongRead(4))
	require.NoError(t, err)
	js := store.JetStream()

	leaders := map[string]string{}
	for _, spec := range threeStreams {
		s, err := js.Stream(ctx, spec.Name)
		require.NoError(t, err)
		info, err := s.Info(ctx)
		require.NoError(t, err)
		assert.Equal(t, 3, info.Config.Replicas, spec.Name)
		assert.Equal(t, threeStreams.String(), info.Config.Metadata["jetsource_layout"], "%s records the layout", spec.Name)
		assert.True(t, info.Config.DenyDelete && info.Config.DenyPurge && info.Config.AllowAtomicPublish && info.Config.AllowDirect, spec.Name)
		require.NotNil(t, info.Cluster)
		leaders[info.Cluster.Leader] = spec.Name
	}
	assert.Len(t, leaders, 3, "the three streams' leaders are on three nodes: %v", leaders)

	// Appends (single and batches) land in the stream of their type, and
	// every read path finds them there.
	tallyRef, orderRef := mustRef(t, "tally", "t-1"), mustRef(t, "order", "o-1")
	res, err := store.Append(ctx, tallyRef, streams.Position{}, addedEvents(1, 30), streams.WithCommandID("cmd-1"))
	require.NoError(t, err)
	single, err := store.Append(ctx, orderRef, streams.Position{}, []streams.Event{addedEvent(7)})
	require.NoError(t, err)
	assert.Equal(t, streams.Sequence(30), res.Position.Sequence, "the tally's events are the first of ACCOUNTS")
	assert.Equal(t, streams.Sequence(1), single.Position.Sequence, "the order's event is the first of ORDERS")
	for name, want := range map[string]uint64{"ACCOUNTS": 30, "ORDERS": 1, "PRODUCTS": 0} {
		s, err := js.Stream(ctx, name)
		require.NoError(t, err)
		info, err := s.Info(ctx)
		require.NoError(t, err)
		assert.Equal(t, want, info.State.Msgs, name)
	}
	requireContiguous(t, readAll(t, store, tallyRef), 30) // first batch, then a long read's consumer
	head, err := store.Head(ctx, tallyRef)
	require.NoError(t, err)
	assert.Equal(t, res.Position, head)
	seq, err := store.LeaderSequence(ctx, orderRef)
	require.NoError(t, err)
	assert.Equal(t, single.Position.Sequence, seq)
	cmd, err := store.CommandEvents(ctx, tallyRef, "cmd-1")
	require.NoError(t, err)
	assert.Len(t, cmd, 30)
	var history int
	for _, err := range store.History(ctx, tallyRef, streams.Until{}) {
		require.NoError(t, err)
		history++
	}
	assert.Equal(t, 30, history)
	until := streams.Until{Time: time.Now().Add(time.Hour)}
	var travelled int
	for _, err := range store.Read(ctx, tallyRef, streams.Position{}, until) {
		require.NoError(t, err)
		travelled++
	}
	assert.Equal(t, 30, travelled)

	// Optimistic concurrency per aggregate is the aggregate's stream's.
	_, err = store.Append(ctx, orderRef, streams.Position{}, []streams.Event{addedEvent(8)})
	var conflict *streams.ConflictError
	require.ErrorAs(t, err, &conflict)
	assert.Equal(t, single.Position, conflict.Actual)
	_, err = store.Append(ctx, orderRef, single.Position, addedEvents(9, 3))
	require.NoError(t, err)

	// A type in no stream is refused before anything is sent.
	stray := mustRef(t, "invoice", "i-1")
	_, err = store.Append(ctx, stray, streams.Position{}, []streams.Event{addedEvent(1)})
	require.ErrorIs(t, err, streams.ErrUnroutedType)
	assert.Contains(t, err.Error(), "invoice is in none of the streams ACCOUNTS(account,tally) ORDERS(order) PRODUCTS(product,user)")
	_, err = store.Head(ctx, stray)
	assert.ErrorIs(t, err, streams.ErrUnroutedType)

	// Opening again (another process) keeps the layout and its leaders apart.
	again, err := streams.Open(ctx, c.Connect(), streams.WithLayout(threeStreams), streams.WithReplicas(3), streams.WithTimeout(20*time.Second))
	require.NoError(t, err)
	requireContiguous(t, readAll(t, again, tallyRef), 30)
}

// The layout of an existing deployment is never changed: opening it with
// another is refused, saying what exists and what is configured.
func TestLayoutChangeOfAnExistingDeploymentIsRefused(t *testing.T) {
	n := testkit.StartNATS(t)
	ctx := testCtx(t)
	_, err := streams.Open(ctx, n.Connect())
	require.NoError(t, err)

	_, err = streams.Open(ctx, n.Connect(), streams.WithLayout(threeStreams))
	require.ErrorIs(t, err, streams.ErrLayoutChanged)
	assert.Contains(t, err.Error(), "the deployment's events are stored in EVENTS(events.>)")
	assert.Contains(t, err.Error(), "the configuration asks for ACCOUNTS(account,tally) ORDERS(order) PRODUCTS(product,user)")
	js, err := jetstream.New(n.Connect())
	require.NoError(t, err)
	_, err = js.Stream(ctx, "ACCOUNTS")
	assert.ErrorIs(t, err, jetstream.ErrStreamNotFound, "nothing of the refused layout was created")

	m := testkit.StartNATS(t)
	_, err = streams.Open(ctx, m.Connect(), streams.WithLayout(threeStreams))
	require.NoError(t, err)
	_, err = streams.Open(ctx, m.Connect(), streams.WithLayout(threeStreams))
	require.NoError(t, err, "the same layout opens again")
	for _, other := range []streams.Layout{
		nil, // back to one stream
		{{Name: "ACCOUNTS", Types: []string{"account"}}, {Name: "ORDERS", Types: []string{"order", "tally"}}, {Name: "PRODUCTS", Types: []string{"product", "user"}}},
		{{Name: "ACCOUNTS", Types: []string{"account", "tally"}}, {Name: "ORDERS", Types: []string{"order"}}},
		{{Name: "ACCOUNTS", Types: []string{"account", "tally"}}, {Name: "ORDERS", Types: []string{"order"}}, {Name: "PRODUCTS", Types: []string{"product", "user"}}, {Name: "USERS", Types: []string{"member"}}},
	} {
		t.Run(fmt.Sprint(other), func(t *testing.T) {
			_, err := streams.Open(ctx, m.Connect(), streams.WithLayout(other))
			require.ErrorIs(t, err, streams.ErrLayoutChanged)
			assert.Contains(t, err.Error(), "the deployment's events are stored in ACCOUNTS(account,tally) ORDERS(order) PRODUCTS(product,user)")
			assert.Contains(t, err.Error(), "changing the layout of an existing deployment would re-route the events of existing aggregates")
		})
	}
}
