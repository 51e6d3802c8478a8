package writer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/order"
	"github.com/jetsource/jetsource/domain/product"
	"github.com/jetsource/jetsource/domain/user"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
	"github.com/jetsource/jetsource/writer"
)

// byContext is a layout of the sample domains over three streams.
var byContext = streams.Layout{
	{Name: "ACCOUNTS", Types: []string{"account", "user"}},
	{Name: "ORDERS", Types: []string{"order"}},
	{Name: "PRODUCTS", Types: []string{"product"}},
}

// startClusterWriter starts a writer of the sample domains on the cluster,
// with its own connection and a store of layout over R3 streams.
func startClusterWriter(t *testing.T, c *testkit.Cluster, layout streams.Layout) *streams.Store {
	t.Helper()
	nc := c.Connect()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := streams.Open(ctx, nc, streams.WithLayout(layout), streams.WithReplicas(3), streams.WithTimeout(20*time.Second))
	require.NoError(t, err)
	w, err := writer.New(nc, store, writer.WithWorkers(8), writer.WithTimeout(20*time.Second), writer.WithLogger(discardLogger()))
	require.NoError(t, err)
	require.NoError(t, writer.Register(w, account.Definition()))
	require.NoError(t, writer.Register(w, order.Definition()))
	require.NoError(t, writer.Register(w, product.Definition()))
	require.NoError(t, writer.Register(w, user.DefinitionWithCost(bcrypt.MinCost)))
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Serve(sctx) }()
	t.Cleanup(func() {
		stop()
		assert.NoError(t, <-done)
	})
	return store
}

// Two writers on a 3-node cluster with the events over three R3 streams:
// concurrent commands on the same aggregates keep optimistic concurrency
// (every aggregate's versions gap-free, its state the fold of the
// acknowledged commands), replies carry the position in the aggregate's
// stream, and resends of a command_id are answered byte for byte as the
// first attempt, appending nothing.
func TestWritersOnSeveralStreamsKeepConcurrencyAndIdempotency(t *testing.T) {
	c := testkit.StartCluster(t, 3)
	store := startClusterWriter(t, c, byContext)
	startClusterWriter(t, c, byContext)
	nc := c.Connect()
	testkit.Eventually(t, 20*time.Second, func() bool {
		_, err := nc.Request("cmd.account.open", []byte(`{}`), time.Second)
		return err == nil
	}, "writer endpoints")

	accounts, products := []string{"a1", "a2", "a3"}, []string{"p1", "p2"}
	for _, id := range accounts {
		r := ok(t, nc, "cmd.account.open", fmt.Sprintf(`{"aggregate_id":%q,"data":{"owner":"ada"}}`, id))
		assert.Equal(t, streams.FormatPosition("ACCOUNTS", streams.Sequence(r.Sequence)), r.Position)
	}
	for _, id := range products {
		r := ok(t, nc, "cmd.product.register", fmt.Sprintf(`{"aggregate_id":%q,"data":{"name":"bolt"}}`, id))
		assert.Equal(t, streams.FormatPosition("PRODUCTS", streams.Sequence(r.Sequence)), r.Position)
	}
	r := ok(t, nc, "cmd.order.place", `{"aggregate_id":"o1"}`)
	assert.Equal(t, "ORDERS:1", r.Position, "the first event of ORDERS")

	type sent struct{ subject, body, raw string }
	const clients, each = 6, 20
	var (
		mu    sync.Mutex
		acked []sent
		want  = map[string]int64{}
		wg    sync.WaitGroup
	)
	for cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := c.Connect()
			for i := range each {
				amount := int64(cl*100 + i + 1)
				id, subject, data := accounts[i%len(accounts)], "cmd.account.deposit", fmt.Sprintf(`{"amount":%d}`, amount)
				if i%2 == 1 {
					id, subject, data = products[i%len(products)], "cmd.product.receive_stock", fmt.Sprintf(`{"quantity":%d}`, amount)
				}
				body := fmt.Sprintf(`{"aggregate_id":%q,"command_id":"c%d-%d","data":%s}`, id, cl, i, data)
				msg, err := client.Request(subject, []byte(body), requestTimeout)
				if err != nil || msg.Header.Get("Nats-Service-Error-Code") != "" {
					t.Errorf("%s %s: %v %s", subject, body, err, msgData(msg))
					continue
				}
				mu.Lock()
				acked = append(acked, sent{subject, body, string(msg.Data)})
				want[id] += amount
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, acked, clients*each)

	got := map[string]int64{}
	for _, id := range accounts {
		evs := events(t, store, "account", id)
		for i, e := range evs {
			require.Equal(t, streams.Version(i+1), e.Version, "%s: versions without gap", id)
			if e.Type == "MoneyDeposited" {
				var d account.MoneyDeposited
				require.NoError(t, json.Unmarshal(e.Data, &d))
				got[id] += d.Amount
			}
		}
	}
	for _, id := range products {
		evs := events(t, store, "product", id)
		for i, e := range evs {
			require.Equal(t, streams.Version(i+1), e.Version, "%s: versions without gap", id)
			if e.Type == "StockReceived" {
				var d struct{ Quantity int64 }
				require.NoError(t, json.Unmarshal(e.Data, &d))
				got[id] += d.Quantity
			}
		}
	}
	assert.Equal(t, want, got, "the state is the fold of the acknowledged commands")

	// Every reply's position names the aggregate's stream and its event.
	for _, a := range acked {
		var reply writer.Reply
		require.NoError(t, json.Unmarshal([]byte(a.raw), &reply))
		stream := "ACCOUNTS"
		if a.subject == "cmd.product.receive_stock" {
			stream = "PRODUCTS"
		}
		assert.Equal(t, streams.FormatPosition(stream, streams.Sequence(reply.Sequence)), reply.Position)
	}

	// Resends of every command_id, on either writer: the first reply, byte
	// for byte, and nothing appended.
	before := totalEvents(t, store)
	for _, a := range acked {
		again, err := nc.Request(a.subject, []byte(a.body), requestTimeout)
		require.NoError(t, err)
		assert.Equal(t, a.raw, string(again.Data), "resend of %s", a.body)
	}
	assert.Equal(t, before, totalEvents(t, store), "no resend appended anything")
}

func msgData(m *nats.Msg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}

// totalEvents counts the events of every stream of the store's layout.
func totalEvents(t *testing.T, store *streams.Store) uint64 {
	t.Helper()
	var n uint64
	for _, name := range store.Layout().Streams() {
		s, err := store.JetStream().Stream(context.Background(), name)
		require.NoError(t, err)
		info, err := s.Info(context.Background())
		require.NoError(t, err)
		n += info.State.Msgs
	}
	return n
}

// A writer refuses at start an aggregate type that is in none of the
// layout's streams.
func TestWriterRefusesATypeInNoStream(t *testing.T) {
	n := testkit.StartNATS(t)
	nc := n.Connect()
	store, err := streams.Open(context.Background(), nc, streams.WithLayout(streams.Layout{{Name: "ACCOUNTS", Types: []string{"account"}}}))
	require.NoError(t, err)
	w, err := writer.New(nc, store, writer.WithLogger(discardLogger()))
	require.NoError(t, err)
	require.NoError(t, writer.Register(w, account.Definition()))
	err = writer.Register(w, order.Definition())
	require.ErrorIs(t, err, streams.ErrUnroutedType)
	assert.Contains(t, err.Error(), "order is in none of the streams ACCOUNTS(account)")
}

// A deployment of one stream answers exactly as before: no position.
func TestSingleStreamReplyHasNoPosition(t *testing.T) {
	n := testkit.StartNATS(t)
	startWriter(t, n)
	r := send(t, n.Connect(), "cmd.account.open", `{"aggregate_id":"s1","data":{"owner":"ada"}}`)
	require.Equal(t, 200, r.status)
	assert.NotContains(t, r.raw, "position")
	assert.JSONEq(t, fmt.Sprintf(`{"aggregate_id":"s1","version":1,"sequence":%d,"events":[{"type":"AccountOpened","version":1,"sequence":%d}]}`, r.reply.Sequence, r.reply.Sequence), r.raw)
}
