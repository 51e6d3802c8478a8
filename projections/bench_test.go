package projections_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// seedAccounts appends events account events: accounts of perAccount events
// each (opened, then deposits), in atomic batches.
func seedAccounts(b *testing.B, store *streams.Store, events int) uint64 {
	b.Helper()
	const perAccount = 1000
	reg := account.Events()
	opened, _ := reg.Encode(account.AccountOpened{Owner: "bench"})
	dep, _ := reg.Encode(account.MoneyDeposited{Amount: 1})
	batch := make([]streams.Event, perAccount)
	batch[0] = streams.Event{Type: opened.Type, Data: opened.Data}
	for i := 1; i < perAccount; i++ {
		batch[i] = streams.Event{Type: dep.Type, Data: dep.Data}
	}
	var last streams.Sequence
	for a := 0; a*perAccount < events; a++ {
		ref, _ := streams.NewRef("account", fmt.Sprintf("acc-%d", a))
		res, err := store.Append(context.Background(), ref, streams.Position{}, batch)
		if err != nil {
			b.Fatal(err)
		}
		last = res.Position.Sequence
	}
	return uint64(last)
}

type benchEnv struct {
	store *streams.Store
	rdb   *redis.Client
}

func newBenchEnv(b *testing.B) benchEnv {
	n := testkit.StartNATS(b)
	store, err := streams.Open(context.Background(), n.Connect())
	if err != nil {
		b.Fatal(err)
	}
	return benchEnv{store: store, rdb: testkit.StartRedis(b).Client(b)}
}

// baseline consumes the same events with the same batch size and pipelines
// one HSET per event: the raw cost of moving events into Redis.
func baseline(b *testing.B, e benchEnv, total uint64, batchSize int) time.Duration {
	ctx := context.Background()
	cons, err := e.store.JetStream().OrderedConsumer(ctx, "EVENTS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"events.account.>"}})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var seen uint64
	for seen < total {
		msgs, err := cons.Fetch(batchSize, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			b.Fatal(err)
		}
		pipe := e.rdb.Pipeline()
		for m := range msgs.Messages() {
			meta, _ := m.Metadata()
			pipe.HSet(ctx, "raw:"+m.Subject(), "seq", meta.Sequence.Stream, "data", m.Data())
			seen = meta.Sequence.Stream
		}
		if err := msgs.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			b.Fatal(err)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

func waitReached(b *testing.B, e benchEnv, name string, total uint64) {
	for {
		r, err := projections.Reached(context.Background(), e.rdb, name)
		if err != nil {
			b.Fatal(err)
		}
		if r >= total {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BenchmarkProjectionThroughput: 200,000 account events into Redis with
// checkpoints vs the raw consume-and-HSET baseline.
func BenchmarkProjectionThroughput(b *testing.B) {
	const events = 200_000
	e := newBenchEnv(b)
	total := seedAccounts(b, e.store, events)
	b.ResetTimer()
	var rawTime, runTime time.Duration
	for range b.N {
		if err := e.rdb.FlushAll(context.Background()).Err(); err != nil {
			b.Fatal(err)
		}
		rawTime += baseline(b, e, total, projections.DefaultBatchSize)
		r, err := projections.NewRunner(e.store.JetStream(), e.rdb, []projections.Projection{account.Projection()},
			projections.WithFetchWait(50*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		start := time.Now()
		go func() { _ = r.Run(ctx); close(done) }()
		waitReached(b, e, account.ProjectionName, total)
		runTime += time.Since(start)
		cancel()
		<-done
	}
	b.StopTimer()
	rawRate := float64(events*b.N) / rawTime.Seconds()
	runRate := float64(events*b.N) / runTime.Seconds()
	b.ReportMetric(rawRate, "raw_events/s")
	b.ReportMetric(runRate, "projection_events/s")
	b.ReportMetric(runRate/rawRate, "ratio")
}

// BenchmarkRebuild: blue/green rebuild of the accounts model from
// 1,000,000 events with JETSOURCE_BENCH_HUGE=1, else 200,000.
func BenchmarkRebuild(b *testing.B) {
	events := 200_000
	if os.Getenv("JETSOURCE_BENCH_HUGE") == "1" {
		events = 1_000_000
	}
	e := newBenchEnv(b)
	seedAccounts(b, e.store, events)
	r, err := projections.NewRunner(e.store.JetStream(), e.rdb, []projections.Projection{account.Projection()},
		projections.WithFetchWait(50*time.Millisecond), projections.WithBatchSize(1000))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := r.Rebuild(context.Background(), account.ProjectionName); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	per := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(per.Seconds(), "s/rebuild")
	b.ReportMetric(float64(events), "events")
	b.ReportMetric(float64(events)/per.Seconds(), "events/s")
}
