package writer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetsource/jetsource/testkit"
	"github.com/jetsource/jetsource/writer"
)

// load sends total requests from clients goroutines (each with its own
// connection) and returns the elapsed time and every latency, sorted.
func load(b *testing.B, n *testkit.NATS, clients, total int, subject string, body func(i int) []byte) (time.Duration, []time.Duration) {
	b.Helper()
	conns := make([]*nats.Conn, clients)
	for i := range conns {
		conns[i] = n.Connect()
	}
	elapsed, lat, err := testkit.Load(clients, total, func(c, i int) error {
		msg, err := conns[c].Request(subject, body(i), requestTimeout)
		if err == nil && msg.Header.Get(micro.ErrorCodeHeader) != "" {
			err = fmt.Errorf("%s: %s", subject, msg.Data)
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return elapsed, lat
}

// BenchmarkWriterDeposits: 32 clients send deposits to 1,000 accounts through
// the writer, vs a baseline responder doing one js.Publish per request.
func BenchmarkWriterDeposits(b *testing.B) {
	const clients, accounts = 32, 1000
	n := testkit.StartNATS(b)
	startBenchWriter(b, n)
	setup := n.Connect()
	for a := range accounts {
		if _, err := setup.Request("cmd.account.open", fmt.Appendf(nil, `{"aggregate_id":"acc-%d","data":{"owner":"o"}}`, a), requestTimeout); err != nil {
			b.Fatal(err)
		}
	}
	// Baseline: a responder that publishes one event and replies.
	bnc := n.Connect()
	js, _ := jetstream.New(bnc)
	svc, err := micro.AddService(bnc, micro.Config{Name: "baseline", Version: "0.0.1"})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Stop()
	if err := svc.AddEndpoint("publish", micro.HandlerFunc(func(r micro.Request) {
		ack, err := js.Publish(context.Background(), "events.baseline.x", r.Data())
		if err != nil {
			_ = r.Error("503", err.Error(), nil)
			return
		}
		_ = r.Respond(fmt.Appendf(nil, `{"sequence":%d}`, ack.Sequence))
	}), micro.WithEndpointSubject("bench.baseline")); err != nil {
		b.Fatal(err)
	}
	body := func(i int) []byte {
		return fmt.Appendf(nil, `{"aggregate_id":"acc-%d","data":{"amount":1}}`, i%accounts)
	}
	total := max(b.N, 2000)
	b.ResetTimer()
	rawTime, rawLat := load(b, n, clients, total, "bench.baseline", body)
	wTime, wLat := load(b, n, clients, total, "cmd.account.deposit", body)
	b.StopTimer()
	rawRate, wRate := float64(total)/rawTime.Seconds(), float64(total)/wTime.Seconds()
	b.ReportMetric(rawRate, "raw_req/s")
	b.ReportMetric(wRate, "writer_req/s")
	b.ReportMetric(wRate/rawRate, "ratio")
	b.ReportMetric(testkit.Percentile(rawLat, 0.5), "raw_p50_us")
	b.ReportMetric(testkit.Percentile(rawLat, 0.99), "raw_p99_us")
	b.ReportMetric(testkit.Percentile(wLat, 0.5), "writer_p50_us")
	b.ReportMetric(testkit.Percentile(wLat, 0.99), "writer_p99_us")
}

// BenchmarkWriterHotAccount: 8 clients on one account through two writers:
// throughput and conflict retries per command.
func BenchmarkWriterHotAccount(b *testing.B) {
	const clients = 8
	n := testkit.StartNATS(b)
	reg1, reg2 := prometheus.NewRegistry(), prometheus.NewRegistry()
	startBenchWriter(b, n, writer.WithMetrics(reg1))
	startBenchWriter(b, n, writer.WithMetrics(reg2))
	setup := n.Connect()
	if _, err := setup.Request("cmd.account.open", []byte(`{"aggregate_id":"hot","data":{"owner":"o"}}`), requestTimeout); err != nil {
		b.Fatal(err)
	}
	total := max(b.N, 500)
	b.ResetTimer()
	elapsed, lat := load(b, n, clients, total, "cmd.account.deposit", func(int) []byte {
		return []byte(`{"aggregate_id":"hot","data":{"amount":1}}`)
	})
	b.StopTimer()
	b.ReportMetric(float64(total)/elapsed.Seconds(), "req/s")
	b.ReportMetric(testkit.Percentile(lat, 0.5), "p50_us")
	b.ReportMetric(testkit.Percentile(lat, 0.99), "p99_us")
	b.ReportMetric((counterValue(b, reg1, "jetsource_writer_conflict_retries_total")+
		counterValue(b, reg2, "jetsource_writer_conflict_retries_total"))/float64(total), "retries/cmd")
}

// counterValue sums a counter family of one writer's registry.
func counterValue(b *testing.B, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
