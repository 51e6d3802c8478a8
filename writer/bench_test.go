package writer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetsource/jetsource/streams"
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

// benchRounds is how many turns a benchmark and its baseline take.
const benchRounds = 6

// BenchmarkWriterDeposits: 32 clients send deposits to 1,000 accounts through
// the writer, vs a baseline responder with as many workers as the writer
// doing the same store work by hand (see startBaselineResponder).
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
	startBaselineResponder(b, n, "bench.baseline", writer.DefaultWorkers)
	body := func(i int) []byte {
		return fmt.Appendf(nil, `{"aggregate_id":"acc-%d","data":{"amount":1}}`, i%accounts)
	}
	total := max(b.N, 2000)
	b.ResetTimer()
	// The two take turns in rounds, each going first in every other round,
	// so that a change in the load of the machine (its cores are shared)
	// weighs on both alike.
	var rawTime, wTime, rawCPU, wCPU time.Duration
	var rawLat, wLat []time.Duration
	for r := range benchRounds {
		per := total / benchRounds
		if r == benchRounds-1 {
			per = total - r*per
		}
		offset := r * (total / benchRounds)
		shifted := func(i int) []byte { return body(offset + i) }
		raw := func() {
			c0 := cpuTime(b)
			d, lat := load(b, n, clients, per, "bench.baseline", shifted)
			rawCPU += cpuTime(b) - c0
			rawTime, rawLat = rawTime+d, append(rawLat, lat...)
		}
		wr := func() {
			c0 := cpuTime(b)
			d, lat := load(b, n, clients, per, "cmd.account.deposit", shifted)
			wCPU += cpuTime(b) - c0
			wTime, wLat = wTime+d, append(wLat, lat...)
		}
		if r%2 == 0 {
			raw()
			wr()
		} else {
			wr()
			raw()
		}
	}
	b.StopTimer()
	slices.Sort(rawLat)
	slices.Sort(wLat)
	rawRate, wRate := float64(total)/rawTime.Seconds(), float64(total)/wTime.Seconds()
	b.ReportMetric(rawRate, "raw_req/s")
	b.ReportMetric(wRate, "writer_req/s")
	b.ReportMetric(wRate/rawRate, "ratio")
	// CPU time of the whole process (server and clients included) per
	// request: steadier than the rates when other processes share the
	// machine's cores.
	b.ReportMetric(float64(rawCPU.Microseconds())/float64(total), "raw_cpu_us/req")
	b.ReportMetric(float64(wCPU.Microseconds())/float64(total), "writer_cpu_us/req")
	b.ReportMetric(testkit.Percentile(rawLat, 0.5), "raw_p50_us")
	b.ReportMetric(testkit.Percentile(rawLat, 0.99), "raw_p99_us")
	b.ReportMetric(testkit.Percentile(wLat, 0.5), "writer_p50_us")
	b.ReportMetric(testkit.Percentile(wLat, 0.99), "writer_p99_us")
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startBaselineResponder serves subject with the fastest honest form of the
// writer's store work: a queue subscription fanning requests out to workers
// goroutines by a hash of the aggregate id (so that one account's requests
// stay in order, as in the writer), each of which decodes only the
// aggregate_id, publishes one event to events.bench.<id> synchronously with
// Nats-Expected-Last-Subject-Sequence from its own map of last sequences
// (refetching the last sequence and retrying on a wrong one), and replies
// with the sequence. It stops with the benchmark.
func startBaselineResponder(b *testing.B, n *testkit.NATS, subject string, workers int) {
	b.Helper()
	nc := n.Connect(nats.ReconnectBufSize(-1))
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	type request struct {
		msg *nats.Msg
		id  string
	}
	queues := make([]chan request, workers)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan request, writer.DefaultQueueDepth)
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := map[string]uint64{} // subject -> its last stream sequence
			for r := range queues[i] {
				seq, err := baselineAppend(js, last, "events.bench."+r.id, r.msg.Data)
				if err != nil {
					_ = r.msg.RespondMsg(&nats.Msg{Header: nats.Header{micro.ErrorCodeHeader: []string{"503"}}, Data: []byte(err.Error())})
					continue
				}
				_ = r.msg.Respond(strconv.AppendUint([]byte(`{"sequence":`), seq, 10))
			}
		}()
	}
	sub, err := nc.QueueSubscribe(subject, "baseline", func(m *nats.Msg) {
		var req struct {
			AggregateID string `json:"aggregate_id"`
		}
		if err := json.Unmarshal(m.Data, &req); err != nil || req.AggregateID == "" {
			_ = m.RespondMsg(&nats.Msg{Header: nats.Header{micro.ErrorCodeHeader: []string{"400"}}, Data: []byte("bad request")})
			return
		}
		h := fnv.New32a()
		_, _ = h.Write([]byte(req.AggregateID))
		queues[h.Sum32()%uint32(workers)] <- request{msg: m, id: req.AggregateID}
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := sub.SetPendingLimits(writer.DefaultPendingMsgs, writer.DefaultPendingBytes); err != nil {
		b.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := sub.Drain(); err == nil {
			testkit.Eventually(b, 10*time.Second, func() bool { return !sub.IsValid() }, "baseline subscription drained")
		}
		for _, q := range queues {
			close(q)
		}
		wg.Wait()
		nc.Close()
	})
}

// baselineAppend publishes data on subject expecting the subject's last
// sequence from last; on a wrong last sequence it refetches it and retries.
func baselineAppend(js jetstream.JetStream, last map[string]uint64, subject string, data []byte) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{
			jetstream.ExpectedLastSubjSeqHeader: []string{strconv.FormatUint(last[subject], 10)}}}
		ack, err := js.PublishMsg(ctx, msg)
		if err == nil {
			last[subject] = ack.Sequence
			return ack.Sequence, nil
		}
		var apiErr *jetstream.APIError
		wrongLast := errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
		if !wrongLast || attempt >= writer.DefaultMaxRetries {
			return 0, err
		}
		s, err := js.Stream(ctx, streams.DefaultStream)
		if err != nil {
			return 0, err
		}
		m, err := s.GetLastMsgForSubject(ctx, subject)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			last[subject] = 0
		case err != nil:
			return 0, err
		default:
			last[subject] = m.Sequence
		}
	}
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
