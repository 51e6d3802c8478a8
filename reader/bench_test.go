package reader_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// BenchmarkQueryAccountGet: query.account.get through the reader under 32
// concurrent clients vs HGETALL of the same hash from 32 Redis clients.
func BenchmarkQueryAccountGet(b *testing.B) {
	const clients, accounts = 32, 1000
	n := testkit.StartNATS(b)
	rdb := testkit.StartRedis(b).Client(b)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	store, err := streams.Open(ctx, n.Connect())
	if err != nil {
		b.Fatal(err)
	}
	reg := account.Events()
	opened, _ := reg.Encode(account.AccountOpened{Owner: "bench"})
	var last streams.Sequence
	for a := range accounts {
		ref, _ := streams.NewRef("account", fmt.Sprintf("acc-%d", a))
		res, err := store.Append(ctx, ref, streams.Position{}, []streams.Event{{Type: opened.Type, Data: opened.Data}})
		if err != nil {
			b.Fatal(err)
		}
		last = res.Position.Sequence
	}
	r, err := projections.NewRunner(store.JetStream(), rdb, []projections.Projection{account.Projection()})
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = r.Run(ctx) }()
	for {
		if got, _ := projections.Reached(ctx, rdb, account.ProjectionName); got >= uint64(last) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	go func() { _ = reader.New(n.Connect(), rdb).Serve(ctx) }()
	nc := n.Connect()
	for {
		if _, err := nc.Request("query.account.get", []byte(`{"id":"acc-0"}`), time.Second); err == nil {
			break
		}
	}
	g, _ := rdb.Get(ctx, projections.KeysOf(account.ProjectionName).Generation()).Result()
	prefix := projections.KeyPrefix + account.ProjectionName + ":g" + g + ":account:acc-"
	keyOf := func(i int) string { return prefix + fmt.Sprint(i%accounts) }
	total := max(b.N, 20000)

	run := func(do func(c, i int) error) (time.Duration, []time.Duration) {
		elapsed, lat, err := testkit.Load(clients, total, do)
		if err != nil {
			b.Fatal(err)
		}
		return elapsed, lat
	}
	rclients := make([]*redis.Client, clients)
	conns := make([]*nats.Conn, clients)
	for c := range clients {
		rclients[c] = redis.NewClient(rdb.Options())
		b.Cleanup(func() { rclients[c].Close() })
		conns[c] = n.Connect()
	}
	b.ResetTimer()
	rawTime, rawLat := run(func(c, i int) error {
		h, err := rclients[c].HGetAll(ctx, keyOf(i)).Result()
		if err == nil && len(h) == 0 {
			err = fmt.Errorf("no hash %s", keyOf(i))
		}
		return err
	})
	qTime, qLat := run(func(c, i int) error {
		msg, err := conns[c].Request("query.account.get", fmt.Appendf(nil, `{"id":"acc-%d"}`, i%accounts), 5*time.Second)
		if err == nil && msg.Header.Get(micro.ErrorCodeHeader) != "" {
			err = fmt.Errorf("%s", msg.Data)
		}
		return err
	})
	b.StopTimer()
	p := testkit.Percentile
	b.ReportMetric(p(rawLat, 0.5), "raw_p50_us")
	b.ReportMetric(p(rawLat, 0.99), "raw_p99_us")
	b.ReportMetric(p(qLat, 0.5), "query_p50_us")
	b.ReportMetric(p(qLat, 0.99), "query_p99_us")
	b.ReportMetric(float64(total)/rawTime.Seconds(), "raw_req/s")
	b.ReportMetric(float64(total)/qTime.Seconds(), "query_req/s")
}
