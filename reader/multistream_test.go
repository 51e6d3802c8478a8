package reader_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/order"
	"github.com/jetsource/jetsource/domain/product"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/domain/user"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
	"github.com/jetsource/jetsource/writer"
)

var byContext = streams.Layout{
	{Name: "ACCOUNTS", Types: []string{"account", "transfer", "user"}},
	{Name: "ORDERS", Types: []string{"order"}},
	{Name: "PRODUCTS", Types: []string{"product"}},
}

// newLayoutWorld is newWorld with the events over the streams of byContext.
func newLayoutWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, n: testkit.StartNATS(t)}
	w.rdb = testkit.StartRedis(t).Client(t)
	wnc := w.n.Connect(nats.ReconnectBufSize(-1))
	var err error
	w.store, err = streams.Open(context.Background(), wnc, streams.WithLayout(byContext))
	require.NoError(t, err)
	wr, err := writer.New(wnc, w.store)
	require.NoError(t, err)
	require.NoError(t, writer.Register(wr, account.Definition()))
	require.NoError(t, writer.Register(wr, order.Definition()))
	require.NoError(t, writer.Register(wr, product.Definition()))
	require.NoError(t, writer.Register(wr, user.DefinitionWithCost(bcrypt.MinCost)))
	w.background(wr.Serve)
	w.nc = w.n.Connect()
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, err := w.nc.Request("cmd.account.open", []byte(`{}`), time.Second)
		return err == nil
	}, "writer up")
	return w
}

// layoutReader is the reader option of a deployment of byContext.
func (w *world) layoutReader() reader.Option {
	streamOf := map[string]string{}
	for _, p := range samples.Projections() {
		s, err := byContext.StreamOfSubjects(p.Subjects)
		require.NoError(w.t, err)
		streamOf[p.Name] = s
	}
	return reader.WithStreams(streamOf, func(ctx context.Context, stream string) (uint64, error) {
		return reader.LastSequenceOf(w.store.JetStream(), stream)(ctx)
	})
}

// positionOf reads the position of a query reply.
func positionOf(t *testing.T, msg *nats.Msg) string {
	t.Helper()
	var r struct {
		Position string `json:"position"`
	}
	require.NoError(t, json.Unmarshal(msg.Data, &r), string(msg.Data))
	return r.Position
}

// In a deployment of several streams min_sequence is a position: a query
// waits for its projections of that stream only, a position in a stream
// none of them follows is reached at once, and replies carry the position.
func TestMinSequencePositionWaitsForItsStream(t *testing.T) {
	w := newLayoutWorld(t)
	w.serve([]reader.Option{w.layoutReader()})
	for i := range 5 {
		command(t, w.nc, "cmd.order.place", fmt.Sprintf(`{"aggregate_id":"o%d"}`, i))
	}
	placed := command(t, w.nc, "cmd.order.add_item", `{"aggregate_id":"o4","data":{"item_id":"i1","quantity":2}}`)
	require.Equal(t, "ORDERS:6", placed.Position)
	opened := command(t, w.nc, "cmd.account.open", `{"aggregate_id":"a1","data":{"owner":"ada"}}`)
	require.Equal(t, "ACCOUNTS:1", opened.Position)

	// No projector runs yet. A position in ORDERS does not hold up a query
	// of accounts; one in ACCOUNTS beyond its end is stale at once, though
	// ORDERS has that sequence; the order's own stream is not reached.
	a := ask(t, w.nc, "query.account.get", `{"id":"a1","min_sequence":"ORDERS:6","wait_ms":30000}`)
	assert.Equal(t, 404, a.status, "answered at once from the read model as it is: %s", a.message)
	a = ask(t, w.nc, "query.account.get", `{"id":"a1","min_sequence":"ACCOUNTS:6","wait_ms":30000}`)
	assert.Equal(t, "stale", a.code)
	assert.Contains(t, a.message, "the stream ends at sequence 1")
	a = ask(t, w.nc, "query.order.get", `{"id":"o4","min_sequence":"ORDERS:6","wait_ms":100}`)
	assert.Equal(t, "stale", a.code)

	// A query waiting for ORDERS:6 is answered once the projector reached it.
	waiting := askLater(w.nc, "query.order.get", `{"id":"o4","min_sequence":"ORDERS:6","wait_ms":30000}`)
	r, err := projections.NewRunner(w.store.JetStream(), w.rdb, samples.Projections(),
		projections.WithLayout(byContext), projections.WithFetchWait(50*time.Millisecond))
	require.NoError(t, err)
	w.background(r.Run)
	msg := <-waiting
	a = answerOf(t, msg)
	require.Equal(t, 200, a.status, a.message)
	assert.JSONEq(t, `{"id":"o4","items":[{"item_id":"i1","quantity":2}],"version":2}`, string(a.data))
	assert.Equal(t, streams.FormatPosition("ORDERS", streams.Sequence(a.sequence)), positionOf(t, msg))
	assert.GreaterOrEqual(t, a.sequence, uint64(6))

	msg, err = w.nc.Request("query.account.get", []byte(`{"id":"a1","min_sequence":"ACCOUNTS:1"}`), 10*time.Second)
	require.NoError(t, err)
	a = answerOf(t, msg)
	require.Equal(t, 200, a.status, a.message)
	assert.Equal(t, "ACCOUNTS:1", positionOf(t, msg))
}

func TestMinSequenceOfSeveralStreamsRefusesWhatNamesNoPosition(t *testing.T) {
	w := newLayoutWorld(t)
	w.serve([]reader.Option{w.layoutReader()})
	for body, want := range map[string]string{
		`{"id":"a1","min_sequence":3}`:            `a bare sequence names no stream; pass the position "<stream>:<sequence>"`,
		`{"id":"a1","min_sequence":"ACCOUNTS:x"}`: `min_sequence must be a non-negative integer or a position "<stream>:<sequence>"`,
		`{"id":"a1","min_sequence":"ACCOUNTS"}`:   `position "ACCOUNTS" is not <stream>:<sequence>`,
		`{"id":"a1","min_sequence":"A.B:1"}`:      `stream name must not contain`,
	} {
		a := ask(t, w.nc, "query.account.get", body)
		assert.Equal(t, 400, a.status, body)
		assert.Contains(t, a.message, want, body)
	}
}

// A deployment of one stream answers as before: no position in replies.
func TestSingleStreamQueryReplyHasNoPosition(t *testing.T) {
	nc := platform(t)
	r := command(t, nc, "cmd.account.open", `{"aggregate_id":"one","data":{"owner":"ada"}}`)
	assert.Empty(t, r.Position)
	msg, err := nc.Request("query.account.get", []byte(fmt.Sprintf(`{"id":"one","min_sequence":%d}`, r.Sequence)), 10*time.Second)
	require.NoError(t, err)
	assert.NotContains(t, string(msg.Data), "position")
	assert.Equal(t, 200, answerOf(t, msg).status)
}

// A projection whose subjects span streams is refused at start, naming them.
func TestProjectionSpanningStreamsIsRefused(t *testing.T) {
	w := newLayoutWorld(t)
	both := projections.Projection{Name: "both", Subjects: []string{"events.account.>", "events.order.>"},
		Apply: func(context.Context, *projections.Tx, streams.Recorded) error { return nil }}
	_, err := projections.NewRunner(w.store.JetStream(), w.rdb, []projections.Projection{both}, projections.WithLayout(byContext))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "projection both")
	assert.Contains(t, err.Error(), "span the streams ACCOUNTS, ORDERS")
}
