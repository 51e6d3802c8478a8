package reader_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
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

// bareRead is the Redis read of account.get done by hand, in one EVALSHA:
// the generation check, the checkpoint and the HGETALL, atomically, as the
// reader's generation-checked read does it.
var bareRead = redis.NewScript(`if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0} end
return {1, tonumber(redis.call('GET', KEYS[2]) or '0'), redis.call('HGETALL', KEYS[3])}`)

// bareReply is the reply of account.get, as the reader answers it.
type bareReply struct {
	Data     account.View `json:"data"`
	Sequence uint64       `json:"sequence"`
}

// bareResponder answers account.get on subject by hand, without the reader:
// a plain queue subscription read by workers goroutines (as many as the
// reader answers at once), each of which checks the id, runs bareRead on
// rdb and replies with the same JSON. It is the baseline of the reader: the
// same NATS round trip and the same Redis read with nothing around them.
func bareResponder(b *testing.B, nc *nats.Conn, rdb redis.UniversalClient, subject string, workers int) func() {
	keys := projections.KeysOf(account.ProjectionName)
	gen, err := rdb.Get(context.Background(), keys.Generation()).Int64()
	if err != nil {
		b.Fatal(err)
	}
	genArg, space := strconv.FormatInt(gen, 10), keys.Space(gen)
	msgs := make(chan *nats.Msg, workers)
	sub, err := nc.ChanQueueSubscribe(subject, "bare", msgs)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	for range workers {
		go func() {
			ctx := context.Background()
			for {
				var m *nats.Msg
				select {
				case m = <-msgs:
				case <-done:
					return
				}
				var req struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(m.Data, &req); err != nil || streams.ValidateID(req.ID) != nil {
					_ = m.Respond([]byte(`{"error":{"code":"bad_request","message":"bad id"}}`))
					continue
				}
				res, err := bareRead.Run(ctx, rdb, []string{keys.Generation(), keys.Checkpoint(gen), space.Key("account", req.ID)}, genArg).Slice()
				if err != nil || len(res) < 3 {
					_ = m.Respond(fmt.Appendf(nil, `{"error":{"code":"unavailable","message":%q}}`, fmt.Sprint(err)))
					continue
				}
				cp, _ := res[1].(int64)
				h := projections.Pairs(res[2])
				balance, _ := strconv.ParseInt(h["balance"], 10, 64)
				version, _ := strconv.ParseUint(h["version"], 10, 64)
				body, _ := json.Marshal(bareReply{Sequence: uint64(cp), Data: account.View{
					ID: h["id"], Owner: h["owner"], Balance: balance, Frozen: h["frozen"] == "1", Version: version}})
				_ = m.Respond(body)
			}
		}()
	}
	return func() {
		_ = sub.Unsubscribe()
		close(done)
	}
}

// BenchmarkQueryAccountGet: query.account.get through the reader under 32
// concurrent clients, beside a bare NATS responder doing the same Redis read
// (bareResponder) for the same 32 clients, and beside HGETALL of the same
// hash from 32 Redis clients (Redis alone). ratio is the reader's req/s over
// the bare responder's.
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
	rd := reader.New(n.Connect(), rdb)
	if err := rd.Register(account.Queries()...); err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- rd.Serve(ctx) }()
	nc := n.Connect()
	for {
		if _, err := nc.Request("query.account.get", []byte(`{"id":"acc-0"}`), time.Second); err == nil {
			break
		}
		select {
		case err := <-served:
			b.Fatalf("reader stopped: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	keys := projections.KeysOf(account.ProjectionName)
	g, _ := rdb.Get(ctx, keys.Generation()).Int64()
	space := keys.Space(g)
	keyOf := func(i int) string { return space.Key("account", fmt.Sprint("acc-", i%accounts)) }
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
	request := func(subject string) func(c, i int) error {
		return func(c, i int) error {
			msg, err := conns[c].Request(subject, fmt.Appendf(nil, `{"id":"acc-%d"}`, i%accounts), 5*time.Second)
			if err == nil && (msg.Header.Get(micro.ErrorCodeHeader) != "" || len(msg.Data) < 3 || msg.Data[2] != 'd') {
				err = fmt.Errorf("%s", msg.Data)
			}
			return err
		}
	}
	stopBare := bareResponder(b, n.Connect(), rdb, "bare.account.get", clients)
	b.ResetTimer()
	rawTime, rawLat := run(func(c, i int) error {
		h, err := rclients[c].HGetAll(ctx, keyOf(i)).Result()
		if err == nil && len(h) == 0 {
			err = fmt.Errorf("no hash %s", keyOf(i))
		}
		return err
	})
	bareTime, bareLat := run(request("bare.account.get"))
	qTime, qLat := run(request("query.account.get"))
	b.StopTimer()
	stopBare()
	p := testkit.Percentile
	b.ReportMetric(p(rawLat, 0.5), "raw_p50_us")
	b.ReportMetric(p(rawLat, 0.99), "raw_p99_us")
	b.ReportMetric(p(bareLat, 0.5), "bare_p50_us")
	b.ReportMetric(p(bareLat, 0.99), "bare_p99_us")
	b.ReportMetric(p(qLat, 0.5), "query_p50_us")
	b.ReportMetric(p(qLat, 0.99), "query_p99_us")
	rawRate, bareRate, qRate := float64(total)/rawTime.Seconds(), float64(total)/bareTime.Seconds(), float64(total)/qTime.Seconds()
	b.ReportMetric(rawRate, "raw_req/s")
	b.ReportMetric(bareRate, "bare_req/s")
	b.ReportMetric(qRate, "query_req/s")
	b.ReportMetric(qRate/bareRate, "ratio")
}
