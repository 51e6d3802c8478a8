package live_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/live"
	"github.com/jetsource/jetsource/streams"
)

// backgroundWriters is how many clients deposit into other accounts while
// the latency is measured.
const backgroundWriters = 4

// BenchmarkNotificationLatency measures, per op, the time from appending a
// deposit to a live subscriber receiving the answer that reflects it, while
// background writers deposit into other accounts (their rate is reported).
// The baseline, measured in the same run, is the raw infrastructure: from
// the same append to an ordered consumer of the event stream receiving it;
// applied is the projection's part: from the append to the runner's notice
// of the batch that applied it (live adds the rest).
func BenchmarkNotificationLatency(b *testing.B) {
	e := newEnv(b, true)
	e.add("watched", account.AccountOpened{Owner: "o"})
	for w := range backgroundWriters {
		e.add(fmt.Sprintf("bg-%d", w), account.AccountOpened{Owner: "o"})
	}
	e.caughtUp()
	ctx := context.Background()
	sub, err := live.Subscribe(ctx, e.nc, "ledger", "balance", json.RawMessage(`{"id":"watched"}`), live.WithBuffer(1<<16))
	require.NoError(b, err)
	defer sub.Close()
	<-sub.Updates()
	raw, err := e.js.OrderedConsumer(ctx, streams.DefaultStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"events.account.watched"}, DeliverPolicy: jetstream.DeliverNewPolicy})
	require.NoError(b, err)
	rawIt, err := raw.Messages()
	require.NoError(b, err)
	defer rawIt.Stop()

	notices := make(chan *nats.Msg, 1<<16)
	nsub, err := e.nc.ChanSubscribe(live.NoticeSubject("", account.ProjectionName), notices)
	require.NoError(b, err)
	defer func() { _ = nsub.Unsubscribe() }()

	stop := make(chan struct{})
	var writes atomic.Int64
	var wg sync.WaitGroup
	for w := range backgroundWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("bg-%d", w)
			for {
				select {
				case <-stop:
					return
				default:
				}
				e.add(id, account.MoneyDeposited{Amount: 1})
				writes.Add(1)
			}
		}()
	}
	var notified, base, applied []time.Duration
	balance := int64(0)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		balance++
		t0 := time.Now()
		seq := e.add("watched", account.MoneyDeposited{Amount: 1})
		if _, err := rawIt.Next(); err != nil {
			b.Fatal(err)
		}
		base = append(base, time.Since(t0))
		for msg := range notices {
			var n live.Notice
			if json.Unmarshal(msg.Data, &n) == nil && n.Checkpoint >= uint64(seq) {
				break
			}
		}
		applied = append(applied, time.Since(t0))
		for u := range sub.Updates() {
			if balanceOf(b, u) == balance {
				break
			}
		}
		notified = append(notified, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	close(stop)
	wg.Wait()
	p := func(d []time.Duration, q float64) float64 {
		slices.Sort(d)
		return float64(d[min(len(d)-1, int(q*float64(len(d))))].Microseconds()) / 1000
	}
	b.ReportMetric(p(notified, 0.50), "live_p50_ms")
	b.ReportMetric(p(notified, 0.99), "live_p99_ms")
	b.ReportMetric(p(base, 0.50), "raw_p50_ms")
	b.ReportMetric(p(base, 0.99), "raw_p99_ms")
	b.ReportMetric(p(applied, 0.50), "applied_p50_ms")
	b.ReportMetric(p(applied, 0.99), "applied_p99_ms")
	b.ReportMetric(p(notified, 0.50)/max(p(base, 0.50), 0.001), "p50_ratio_raw")
	b.ReportMetric(p(notified, 0.50)/max(p(applied, 0.50), 0.001), "p50_ratio_applied")
	b.ReportMetric(float64(writes.Load()+int64(b.N))/elapsed.Seconds(), "writes/s")
}
