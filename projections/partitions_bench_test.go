package projections_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// Environment of the runner process BenchmarkPartitionedProjection starts:
// the test binary again, running TestBenchRunnerProcess.
const (
	benchNATSEnv       = "JETSOURCE_BENCH_RUNNER_NATS"
	benchRedisEnv      = "JETSOURCE_BENCH_RUNNER_REDIS"
	benchPartitionsEnv = "JETSOURCE_BENCH_RUNNER_PARTITIONS"
	// benchGoKey is set in Redis when the runners may start.
	benchGoKey = "bench:go"
	// benchReadyKey is set by the second runner once it is connected.
	benchReadyKey = "bench:ready"
)

func benchAccounts(partitions int) []projections.Projection {
	p := account.Projection()
	p.Partitions = partitions
	return []projections.Projection{p}
}

// TestBenchRunnerProcess is the second runner process of
// BenchmarkPartitionedProjection; it does nothing in a plain test run.
func TestBenchRunnerProcess(t *testing.T) {
	natsURL := os.Getenv(benchNATSEnv)
	if natsURL == "" {
		t.Skip("the second runner of BenchmarkPartitionedProjection only")
	}
	var partitions int
	_, _ = fmt.Sscan(os.Getenv(benchPartitionsEnv), &partitions)
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	store, err := streams.Open(context.Background(), nc)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := redis.ParseURL(os.Getenv(benchRedisEnv))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	r, err := projections.NewRunner(store.JetStream(), rdb, benchAccounts(partitions), projections.WithFetchWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rdb.Set(ctx, benchReadyKey, 1, 0)
	for rdb.Exists(ctx, benchGoKey).Val() == 0 {
		time.Sleep(time.Millisecond)
	}
	_ = r.Run(ctx) // until the benchmark kills the process
}

// startRunnerProcess starts the second runner process and returns its
// stop.
func startRunnerProcess(b *testing.B, natsURL, redisURL string, partitions int) func() {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchRunnerProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), benchNATSEnv+"="+natsURL, benchRedisEnv+"="+redisURL, fmt.Sprintf("%s=%d", benchPartitionsEnv, partitions))
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// BenchmarkPartitionedProjection: 200,000 account events (200 accounts)
// into the accounts model in 1, 2 and 8 partitions, by one runner (one
// process) and by two runner processes sharing the partitions, each beside
// the raw consume-and-HSET baseline of the same run. Every partition's
// consumer delivers every account event (it skips the other partitions'),
// so the partitions multiply what NATS delivers: on one machine the gain
// is bounded by the cores, the delivery cost by n.
func BenchmarkPartitionedProjection(b *testing.B) {
	const events = 200_000
	n := testkit.StartNATS(b)
	store, err := streams.Open(context.Background(), n.Connect())
	if err != nil {
		b.Fatal(err)
	}
	rd := testkit.StartRedis(b)
	e := benchEnv{store: store, rdb: rd.Client(b)}
	total := seedAccounts(b, e.store, events)
	for _, processes := range []int{1, 2} {
		for _, partitions := range []int{1, 2, 8} {
			b.Run(fmt.Sprintf("processes=%d/partitions=%d", processes, partitions), func(b *testing.B) {
				ctx := context.Background()
				var rawTime, runTime time.Duration
				for range b.N {
					if err := e.rdb.FlushAll(ctx).Err(); err != nil {
						b.Fatal(err)
					}
					rawTime += baseline(b, e, total, projections.DefaultBatchSize)
					if err := e.rdb.FlushAll(ctx).Err(); err != nil {
						b.Fatal(err)
					}
					stop := func() {}
					if processes == 2 {
						stop = startRunnerProcess(b, n.URL(), rd.URL, partitions)
						for e.rdb.Exists(ctx, benchReadyKey).Val() == 0 {
							time.Sleep(time.Millisecond)
						}
					}
					r, err := projections.NewRunner(e.store.JetStream(), e.rdb, benchAccounts(partitions), projections.WithFetchWait(50*time.Millisecond))
					if err != nil {
						b.Fatal(err)
					}
					rctx, cancel := context.WithCancel(ctx)
					done := make(chan struct{})
					start := time.Now()
					if err := e.rdb.Set(ctx, benchGoKey, 1, 0).Err(); err != nil {
						b.Fatal(err)
					}
					go func() { _ = r.Run(rctx); close(done) }()
					waitReached(b, e, account.ProjectionName, total)
					runTime += time.Since(start)
					cancel()
					<-done
					stop()
				}
				rawRate := float64(events*b.N) / rawTime.Seconds()
				runRate := float64(events*b.N) / runTime.Seconds()
				b.ReportMetric(rawRate, "raw_events/s")
				b.ReportMetric(runRate, "projection_events/s")
				b.ReportMetric(runRate/rawRate, "ratio")
			})
		}
	}
}
