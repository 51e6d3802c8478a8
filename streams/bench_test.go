package streams_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// Every benchmark here measures the raw JetStream operation it builds on,
// against the same embedded server with the same payload, in the same run,
// and reports store/raw as "ratio" (1.0 = no overhead).

const benchPayload = `{"amount":100,"note":"benchmark payload of about one hundred bytes, like a small domain event"}`

type benchEnv struct {
	nats  *testkit.NATS
	nc    *nats.Conn
	js    jetstream.JetStream
	store *streams.Store
}

func newBenchEnv(b *testing.B, opts ...streams.Option) benchEnv {
	b.Helper()
	// No cap on consumers per stream: a baseline that reads with an ordered
	// consumer leaves one on the server per iteration, for a few seconds,
	// and a fast machine runs thousands (the server's default cap is 1,000).
	n := testkit.StartNATS(b, func(o *server.Options) { o.JetStreamLimits.DefaultMaxConsumers = -1 })
	nc := n.Connect()
	store, err := streams.Open(context.Background(), nc, opts...)
	if err != nil {
		b.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	// The raw baseline publishes to its own stream with the same settings.
	cfg := streams.StreamConfig(streams.Options{Stream: "RAW", Replicas: 1, DuplicateWindow: streams.DefaultDuplicateWindow})
	cfg.Subjects = []string{"raw.>"}
	if _, err := js.CreateStream(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	return benchEnv{nats: n, nc: nc, js: js, store: store}
}

// rawMsg is what a plain publisher sends: same subject depth, payload and
// header count as an event.
func rawMsg(subject string, i int) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = []byte(benchPayload)
	m.Header.Set(streams.HeaderType, "MoneyDeposited")
	m.Header.Set(streams.HeaderVersion, fmt.Sprint(i))
	m.Header.Set(streams.HeaderSchema, "1")
	m.Header.Set(streams.HeaderTime, time.Now().UTC().Format(time.RFC3339Nano))
	return m
}

func benchEvent() streams.Event {
	return streams.Event{Type: "MoneyDeposited", Data: []byte(benchPayload)}
}

func report(b *testing.B, ops int, raw, store time.Duration) {
	rawRate := float64(ops) / raw.Seconds()
	storeRate := float64(ops) / store.Seconds()
	b.ReportMetric(rawRate, "raw_ops/s")
	b.ReportMetric(storeRate, "store_ops/s")
	b.ReportMetric(storeRate/rawRate, "ratio")
}

// BenchmarkAppendSequential: single-event appends to one aggregate, each
// expecting the position the previous one returned, vs synchronous
// js.PublishMsg. Interleaved in chunks so noise hits both alike.
func BenchmarkAppendSequential(b *testing.B) {
	env := newBenchEnv(b)
	ctx := context.Background()
	ref, _ := streams.NewRef("account", "bench-seq")
	events := []streams.Event{benchEvent()}
	var pos streams.Position
	var rawTime, storeTime time.Duration
	const chunk = 100
	b.ResetTimer()
	for done := 0; done < b.N; done += chunk {
		n := min(chunk, b.N-done)
		start := time.Now()
		for i := range n {
			if _, err := env.js.PublishMsg(ctx, rawMsg("raw.account.bench-seq", done+i)); err != nil {
				b.Fatal(err)
			}
		}
		rawTime += time.Since(start)
		start = time.Now()
		for range n {
			res, err := env.store.Append(ctx, ref, pos, events)
			if err != nil {
				b.Fatal(err)
			}
			pos = res.Position
		}
		storeTime += time.Since(start)
	}
	b.StopTimer()
	report(b, b.N, rawTime, storeTime)
}

// BenchmarkAppendConcurrent: single-event appends spread over 1,024
// aggregates with 256 in flight (256 goroutines, each owning 4 aggregates)
// vs PublishMsgAsync with 256 in flight of the same messages: the same
// headers, a unique Nats-Msg-Id and the expected last subject sequence each
// aggregate's previous acknowledgement gave.
func BenchmarkAppendConcurrent(b *testing.B) {
	const aggregates, inFlight = 1024, 256
	env := newBenchEnv(b)
	ctx := context.Background()
	refs := make([]streams.Ref, aggregates)
	for i := range refs {
		refs[i], _ = streams.NewRef("account", fmt.Sprintf("acc-%d", i))
	}
	jsAsync, err := jetstream.New(env.nc, jetstream.WithPublishAsyncMaxPending(inFlight))
	if err != nil {
		b.Fatal(err)
	}
	subjects := make([]string, aggregates)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("raw.account.acc-%d", i)
	}
	appendsBesideRaw(b, ctx, jsAsync, env.store, refs, subjects, inFlight)
}

// appendsBesideRaw makes b.N single-event appends over refs through store
// (inFlight at a time), interleaved in chunks with raw async publishes of
// the same messages (same headers, a unique Nats-Msg-Id, the expected last
// subject sequence) to rawSubjects through js, and reports both rates.
func appendsBesideRaw(b *testing.B, ctx context.Context, js jetstream.JetStream, store *streams.Store,
	refs []streams.Ref, rawSubjects []string, inFlight int) {
	positions := make([]streams.Position, len(refs))
	// last holds each raw aggregate's previous publish, whose
	// acknowledgement gives the sequence the next one expects.
	last := make([]jetstream.PubAckFuture, len(refs))
	versions := make([]int, len(refs))
	rawAppend := func(i int) {
		a := i % len(refs)
		var expect uint64
		if last[a] != nil {
			select {
			case ack := <-last[a].Ok():
				expect = ack.Sequence
			case err := <-last[a].Err():
				b.Fatal(err)
			}
		}
		versions[a]++
		m := rawMsg(rawSubjects[a], versions[a])
		m.Header.Set(streams.HeaderMsgID, nuid.Next())
		m.Header.Set("Nats-Expected-Last-Subject-Sequence", strconv.FormatUint(expect, 10))
		var err error
		last[a], err = js.PublishMsgAsync(m)
		for errors.Is(err, jetstream.ErrTooManyStalledMsgs) { // a loaded machine: wait on
			last[a], err = js.PublishMsgAsync(m)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	var rawTime, storeTime time.Duration
	const chunk = 2048
	b.ResetTimer()
	for done := 0; done < b.N; done += chunk {
		n := min(chunk, b.N-done)
		start := time.Now()
		for i := range n {
			rawAppend(done + i)
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(time.Minute):
			b.Fatal("async publishes not acknowledged")
		}
		rawTime += time.Since(start)
		start = time.Now()
		if err := appendConcurrently(ctx, store, refs, positions, inFlight, n); err != nil {
			b.Fatal(err)
		}
		storeTime += time.Since(start)
	}
	b.StopTimer()
	report(b, b.N, rawTime, storeTime)
}

// appendConcurrently makes n single-event appends over refs from workers
// goroutines, each owning its aggregates (w, w+workers, …), so that no two
// share one and no append conflicts.
func appendConcurrently(ctx context.Context, store *streams.Store, refs []streams.Ref, positions []streams.Position, workers, n int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := 0
			for next.Add(1) <= int64(n) {
				a := w + (k%(len(refs)/workers))*workers
				k++
				res, err := store.Append(ctx, refs[a], positions[a], []streams.Event{benchEvent()})
				if err != nil {
					failed.Store(err)
					return
				}
				positions[a] = res.Position
			}
		}()
	}
	wg.Wait()
	err, _ := failed.Load().(error)
	return err
}

// BenchmarkAppendDurability: the cost of sync always (every write fsynced
// before its ack, the default of the single-process mode and compose) against
// the nats-server default (sync every 2 minutes), same workload, two servers
// in the same run, interleaved in chunks: 64 goroutines over 960
// aggregates, and one goroutine appending in turn to 15 (where every append
// waits for its own fsync).
func BenchmarkAppendDurability(b *testing.B) {
	const aggregates = 1000
	ctx := context.Background()
	type side struct {
		store     *streams.Store
		refs      []streams.Ref
		positions []streams.Position
		took      time.Duration
	}
	open := func(always bool) *side {
		n := testkit.StartNATS(b, func(o *server.Options) { o.SyncAlways = always })
		store, err := streams.Open(ctx, n.Connect())
		if err != nil {
			b.Fatal(err)
		}
		s := &side{store: store, refs: make([]streams.Ref, aggregates), positions: make([]streams.Position, aggregates)}
		for i := range s.refs {
			s.refs[i], _ = streams.NewRef("account", fmt.Sprintf("acc-%d", i))
		}
		return s
	}
	for _, workers := range []int{64, 1} {
		b.Run(fmt.Sprintf("writers=%d", workers), func(b *testing.B) {
			always, interval := open(true), open(false)
			const chunk = 500
			b.ResetTimer()
			for done := 0; done < b.N; done += chunk {
				n := min(chunk, b.N-done)
				for _, s := range []*side{interval, always} {
					start := time.Now()
					if err := appendConcurrently(ctx, s.store, s.refs[:max(workers, 1)*(aggregates/64)], s.positions, workers, n); err != nil {
						b.Fatal(err)
					}
					s.took += time.Since(start)
				}
			}
			b.StopTimer()
			alwaysRate, intervalRate := float64(b.N)/always.took.Seconds(), float64(b.N)/interval.took.Seconds()
			b.ReportMetric(alwaysRate, "sync_always_ops/s")
			b.ReportMetric(intervalRate, "sync_2m_ops/s")
			b.ReportMetric(alwaysRate/intervalRate, "ratio")
		})
	}
}

type counter struct{ N int }

func countModel(typ string, every int) streams.Model[counter] {
	return streams.Model[counter]{Type: typ, SnapshotEvery: every,
		Apply: func(c counter, _ streams.Recorded) (counter, error) { c.N++; return c, nil }}
}

// seedEvents appends count events to ref in atomic batches of 1000.
func seedEvents(b *testing.B, store *streams.Store, ref streams.Ref, count int) streams.Position {
	b.Helper()
	batch := make([]streams.Event, streams.DefaultMaxBatch)
	for i := range batch {
		batch[i] = benchEvent()
	}
	var pos streams.Position
	for int(pos.Version) < count {
		n := min(len(batch), count-int(pos.Version))
		res, err := store.Append(context.Background(), ref, pos, batch[:n])
		if err != nil {
			b.Fatal(err)
		}
		pos = res.Position
	}
	return pos
}

// orderedRead is the baseline of a load: the fastest plain ordered consumer
// that fetches the same events (one pull for all of them, messages handed
// over as they come), reading nothing of an event but the metadata that says
// where the subject ends.
func orderedRead(ctx context.Context, js jetstream.JetStream, subject string, size int) (int, error) {
	cons, err := js.OrderedConsumer(ctx, streams.DefaultStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 1})
	if err != nil {
		return 0, err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(min(size, 10_000)))
	if err != nil {
		return 0, err
	}
	defer it.Stop()
	for n := 1; ; n++ {
		m, err := it.Next()
		if err != nil {
			return n - 1, err
		}
		md, err := m.Metadata()
		if err != nil {
			return n, err
		}
		if md.NumPending == 0 {
			return n, nil
		}
	}
}

// BenchmarkLoad: an aggregate of 10 to 10,000 events loaded without
// snapshot (Repository.Load: every event decoded, checked and folded) vs
// the ordered consumer fetching the same events. "ordered-consumer" is the
// baseline alone; "load" runs both in turn, reports its own time as ns/op,
// the baseline's as baseline_ns/op and baseline/load as ratio (>= 1: the
// load is at least as fast as the consumer).
func BenchmarkLoad(b *testing.B) {
	env := newBenchEnv(b)
	ctx := context.Background()
	repo, err := streams.NewRepository(env.store, countModel("account", -1))
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{10, 100, 1000, 10_000} {
		id := fmt.Sprintf("load%d", size)
		ref, _ := streams.NewRef("account", id)
		seedEvents(b, env.store, ref, size)
		baseline := func(b *testing.B) {
			if n, err := orderedRead(ctx, env.js, ref.Subject(), size); err != nil || n != size {
				b.Fatalf("ordered consumer read %d events: %v", n, err)
			}
		}
		b.Run(fmt.Sprintf("events=%d/ordered-consumer", size), func(b *testing.B) {
			for range b.N {
				baseline(b)
			}
		})
		b.Run(fmt.Sprintf("events=%d/load", size), func(b *testing.B) {
			var rawTime time.Duration
			for range b.N {
				b.StopTimer()
				start := time.Now()
				baseline(b)
				rawTime += time.Since(start)
				b.StartTimer()
				a, err := repo.Load(ctx, id)
				if err != nil || a.State.N != size {
					b.Fatalf("load: %v, %d events", err, a.State.N)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(rawTime.Nanoseconds())/float64(b.N), "baseline_ns/op")
			b.ReportMetric(rawTime.Seconds()/b.Elapsed().Seconds(), "ratio")
		})
	}
}

// BenchmarkLoadFlat: a 10-event aggregate on a stream of 10,000 other
// events vs one of 1,000,000 (two servers, file storage as in production,
// loads in turn); ratio is big/small (<= 1.5 wanted: a load does not grow
// with the stream). "recent": the aggregate's events follow the others, as
// an aggregate's events do when it is young; "spread": one event after each
// tenth of the others, so a load meets ten stretches of the stream. The big
// stream is built once per run with async publishes (minutes on a small
// machine).
func BenchmarkLoadFlat(b *testing.B) {
	const events = 10
	ctx := context.Background()
	repos := make([]*streams.Repository[counter], 2)
	for i, others := range []int{10_000, 1_000_000} {
		env := newBenchEnv(b)
		js, err := jetstream.New(env.nc, jetstream.WithPublishAsyncMaxPending(4096))
		if err != nil {
			b.Fatal(err)
		}
		spread, _ := streams.NewRef("account", "spread")
		var pos streams.Position
		for k := range events {
			for j := range others / events {
				m := rawMsg(fmt.Sprintf("events.account.other-%d", j%5000), k*others+j)
				_, err := js.PublishMsgAsync(m)
				for errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
					<-js.PublishAsyncComplete()
					_, err = js.PublishMsgAsync(m)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(5 * time.Minute):
				b.Fatal("async publishes not acknowledged")
			}
			res, err := env.store.Append(ctx, spread, pos, []streams.Event{benchEvent()})
			if err != nil {
				b.Fatal(err)
			}
			pos = res.Position
		}
		recent, _ := streams.NewRef("account", "recent")
		seedEvents(b, env.store, recent, events)
		if repos[i], err = streams.NewRepository(env.store, countModel("account", -1)); err != nil {
			b.Fatal(err)
		}
	}
	for _, id := range []string{"recent", "spread"} {
		b.Run(id, func(b *testing.B) {
			var took [2]time.Duration
			for range b.N {
				for i, repo := range repos {
					start := time.Now()
					a, err := repo.Load(ctx, id)
					if err != nil || a.State.N != events {
						b.Fatalf("load: %v, %d events", err, a.State.N)
					}
					took[i] += time.Since(start)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(took[0].Nanoseconds())/float64(b.N), "small_ns/load")
			b.ReportMetric(float64(took[1].Nanoseconds())/float64(b.N), "big_ns/load")
			b.ReportMetric(took[1].Seconds()/took[0].Seconds(), "ratio")
		})
	}
}

// BenchmarkLoadSnapshotted: an aggregate with a long history and snapshots
// every 100 events vs an aggregate of 100 events: the cost follows the tail
// since the last snapshot, not the history. The long history is 1,000,000
// events with JETSOURCE_BENCH_HUGE=1, else 100,000 (seeding a million takes
// a while on a small machine).
func BenchmarkLoadSnapshotted(b *testing.B) {
	long := 100_000
	if testenvHuge() {
		long = 1_000_000
	}
	env := newBenchEnv(b)
	ctx := context.Background()
	repo, err := streams.NewRepository(env.store, countModel("account", 100))
	if err != nil {
		b.Fatal(err)
	}
	bigRef, _ := streams.NewRef("account", "big")
	smallRef, _ := streams.NewRef("account", "small")
	// Seed in batches, then leave the tail since the last snapshot as it
	// would be in production: the history ends 50 events past a snapshot.
	seedEvents(b, env.store, bigRef, long-50)
	big, err := repo.LoadAt(ctx, "big", streams.Until{})
	if err != nil {
		b.Fatal(err)
	}
	if err := repo.SaveSnapshot(ctx, big); err != nil {
		b.Fatal(err)
	}
	for range 50 {
		if big, _, err = repo.Append(ctx, big, []streams.Event{benchEvent()}); err != nil {
			b.Fatal(err)
		}
	}
	seedEvents(b, env.store, smallRef, 100)
	plain, _ := streams.NewRepository(env.store, countModel("account", -1))

	var smallTime, bigTime time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		a, err := plain.Load(ctx, "small")
		if err != nil || a.State.N != 100 {
			b.Fatalf("small: %v %d", err, a.State.N)
		}
		smallTime += time.Since(start)
		start = time.Now()
		a, err = repo.Load(ctx, "big")
		if err != nil || a.State.N != long {
			b.Fatalf("big: %v %d", err, a.State.N)
		}
		bigTime += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(float64(smallTime.Microseconds())/float64(b.N), "small_us/load")
	b.ReportMetric(float64(bigTime.Microseconds())/float64(b.N), "big_us/load")
	b.ReportMetric(float64(long), "big_events")
	b.ReportMetric(bigTime.Seconds()/smallTime.Seconds(), "big/small")
}
