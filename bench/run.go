package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/jetsource/jetsource/writer"
)

// Defaults of Options.
const (
	// DefaultTimeout bounds one request.
	DefaultTimeout = 10 * time.Second
	// DefaultProgressEvery is how often the progress line is rewritten.
	DefaultProgressEvery = time.Second
	// Warmup is left out of the throughput, as the suite leaves out the
	// first second of each run.
	Warmup = time.Second
	// PreloadConcurrency is how many streams the setup writes at once (the
	// suite's 10 setup tasks).
	PreloadConcurrency = 10
	// preloadAttempts and preloadBackoff bound the resends of one setup
	// command that met a 503 or a timeout.
	preloadAttempts = 5
	preloadBackoff  = 200 * time.Millisecond
	// DefaultStream is the contract's event stream.
	DefaultStream = "EVENTS"
)

// Options bound and instrument a run; the zero value means the defaults.
type Options struct {
	// MaxOps stops the run after that many operations (0: the scenario's
	// duration alone bounds it).
	MaxOps int64
	// Timeout bounds one request (DefaultTimeout when 0).
	Timeout time.Duration
	// Progress receives the progress line (nil: none).
	Progress io.Writer
	// ProgressEvery is how often (DefaultProgressEvery when 0).
	ProgressEvery time.Duration
	// Seed seeds the workers' random choices (stream, read or write).
	Seed uint64
	// RunID prefixes the run's stream ids; random when empty.
	RunID string
	// Stream is the JetStream stream the check reads (DefaultStream).
	Stream string
	// SkipCheck leaves out the consistency check.
	SkipCheck bool
}

func (o Options) withDefaults() Options {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = DefaultProgressEvery
	}
	if o.RunID == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		o.RunID = hex.EncodeToString(b[:])
	}
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

// Ack is one acknowledged event: the platform's reply put it in Stream at
// Version and stream sequence Sequence, with the body EventBody(Token, Size).
type Ack struct {
	Stream   string `json:"stream"`
	Version  uint64 `json:"version"`
	Sequence uint64 `json:"sequence"`
	Token    string `json:"token"`
	Size     int    `json:"size"`
}

// eventJSONOverhead is the length of {"payload":""}.
const eventJSONOverhead = len(`{"payload":""}`)

// Payload is the payload that makes an event of size bytes: token, which
// makes it unique, padded with 'x'.
func Payload(token string, size int) string {
	return token + strings.Repeat("x", max(size-eventJSONOverhead-len(token), 0))
}

// EventBody is the stored body of the event whose payload is
// Payload(token, size): size bytes when the token fits.
func EventBody(token string, size int) []byte {
	return []byte(`{"payload":"` + Payload(token, size) + `"}`)
}

// Run runs scenario s against the platform behind nc (its cmd.bench.* and
// query.bench.stream, see Domain): the setup, then the workers until the
// duration or MaxOps, then the consistency check. An error means the run
// could not be made (no bench domain, a failed setup); errors of single
// operations are counted in the report.
func Run(ctx context.Context, nc *nats.Conn, s Scenario, o Options) (*Report, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	c := client{nc: nc}
	pctx, cancel := context.WithTimeout(ctx, o.Timeout)
	err := c.preflight(pctx)
	cancel()
	if err != nil {
		return nil, err
	}
	r := &Report{Scenario: s.Name, Writers: s.Writers, Readers: s.Readers, EventSize: s.EventSize,
		Distribution: s.Distribution(), WriteProbability: s.WriteProbability, ReadBatch: s.ReadBatch}
	if s.Mixed() {
		acks, err := preload(ctx, c, s, o)
		if err != nil {
			return nil, err
		}
		r.PreloadedEvents, r.PreloadedStreams = len(acks), s.PreloadStreams
		r.Acks = acks
		// The suite measures a store that shows its setup at once; the
		// read model shows it once the projection has caught up.
		if err := caughtUp(ctx, c, acks); err != nil {
			return nil, fmt.Errorf("preload: the read model did not catch up: %w", err)
		}
	}
	ms := measure(ctx, c, s, o)
	ms.report(r)
	r.Acks = append(r.Acks, ms.acks...)
	if !o.SkipCheck {
		cons, err := Check(ctx, nc, r.Acks, CheckOptions{Stream: o.Stream, Timeout: o.Timeout, Progress: o.Progress})
		if err != nil {
			return r, err
		}
		r.Consistency = &cons
	}
	return r, nil
}

// streamID names stream n of a mixed run.
func streamID(runID string, n int) string { return "rm-" + runID + "-" + strconv.Itoa(n) }

// preload writes the setup: ceil(events/streams) events to each of the
// scenario's streams, one start command per stream, PreloadConcurrency at
// once. Any failure stops the run: the scenario needs all of them.
func preload(ctx context.Context, c client, s Scenario, o Options) ([]Ack, error) {
	per := s.EventsPerPreloadedStream()
	acks := make([][]Ack, s.PreloadStreams)
	var done atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(PreloadConcurrency)
	stop := progress(o, func(elapsed time.Duration) string {
		return fmt.Sprintf("%s  preloading %d/%d streams (%d events each)  %.0fs", s.Name, done.Load(), s.PreloadStreams, per, elapsed.Seconds())
	})
	defer stop()
	for n := range s.PreloadStreams {
		g.Go(func() error {
			id, token := streamID(o.RunID, n), "p"+strconv.Itoa(n)+"-"
			// With a command_id, a start that timed out or met a 503 can be
			// sent again: it appends at most once.
			var reply writer.Reply
			var err error
			for attempt := range preloadAttempts {
				rctx, cancel := context.WithTimeout(gctx, o.Timeout)
				reply, err = c.command(rctx, "start", id, id, Append{Payload: Payload(token, s.EventSize), Count: per})
				cancel()
				if !transient(err) || gctx.Err() != nil {
					break
				}
				time.Sleep(time.Duration(attempt+1) * preloadBackoff)
			}
			if err != nil {
				return fmt.Errorf("preload of stream %s: %w", id, err)
			}
			for _, e := range reply.Events {
				acks[n] = append(acks[n], Ack{Stream: id, Version: e.Version, Sequence: e.Sequence, Token: token, Size: s.EventSize})
			}
			done.Add(1)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return slices.Concat(acks...), nil
}

// caughtUp waits until the read model shows the last of acks.
func caughtUp(ctx context.Context, c client, acks []Ack) error {
	last := slices.MaxFunc(acks, func(a, b Ack) int { return cmp.Compare(a.Sequence, b.Sequence) })
	_, err := c.readAfter(ctx, last.Stream, 1, 1, last.Sequence)
	return err
}

// progress rewrites line() on o.Progress every o.ProgressEvery until the
// returned stop, which ends the line.
func progress(o Options, line func(elapsed time.Duration) string) (stop func()) {
	start, done, finished := time.Now(), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(o.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintf(o.Progress, "\r%s\033[K\n", line(time.Since(start)))
				return
			case <-t.C:
				fmt.Fprintf(o.Progress, "\r%s\033[K", line(time.Since(start)))
			}
		}
	}()
	return func() { close(done); <-finished }
}

// counters are the run's totals, read by the progress line and the
// warm-up mark while the workers run.
type counters struct {
	ops, writes, reads, errors, eventsWritten, eventsRead atomic.Int64
}

// worker is what one worker measured.
type worker struct {
	writeLat, readLat []time.Duration
	acks              []Ack
	errors            map[string]int64
}

// measurement is the measured phase of a run.
type measurement struct {
	s                   Scenario
	n                   *counters
	workers             []*worker
	elapsed             time.Duration
	warmOps, warmEvents int64
	warmedUp            bool
	acks                []Ack
}

// measure runs the scenario's workers until its duration or o.MaxOps.
func measure(ctx context.Context, c client, s Scenario, o Options) *measurement {
	m := &measurement{s: s, n: &counters{}}
	var stopped atomic.Bool
	var claimed atomic.Int64
	// next claims an operation: false once the run is over.
	next := func() bool {
		if stopped.Load() || ctx.Err() != nil {
			return false
		}
		return o.MaxOps == 0 || claimed.Add(1) <= o.MaxOps
	}
	start := time.Now()
	deadline := time.AfterFunc(s.Duration, func() { stopped.Store(true) })
	defer deadline.Stop()
	var warm sync.Once
	mark := func() {
		warm.Do(func() {
			m.warmOps, m.warmEvents, m.warmedUp = m.n.ops.Load(), m.n.eventsWritten.Load()+m.n.eventsRead.Load(), true
		})
	}
	warmTimer := time.AfterFunc(Warmup, mark)
	var last int64
	lastAt := start
	stop := progress(o, func(elapsed time.Duration) string {
		ops, now := m.n.ops.Load(), time.Now()
		rate := float64(ops-last) / max(now.Sub(lastAt).Seconds(), 1e-9)
		last, lastAt = ops, now
		return fmt.Sprintf("%s  %.0fs/%.0fs  ops %d (writes %d, reads %d)  %.0f ops/s  errors %d",
			s.Name, elapsed.Seconds(), s.Duration.Seconds(), ops, m.n.writes.Load(), m.n.reads.Load(), rate, m.n.errors.Load())
	})
	var wg sync.WaitGroup
	for i := range s.Writers + s.Readers {
		w := &worker{errors: map[string]int64{}}
		m.workers = append(m.workers, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.Mixed() {
				m.mixed(ctx, c, o, i, i < s.Writers, w, next)
			} else {
				m.writeOnly(ctx, c, o, i, w, next)
			}
		}()
	}
	wg.Wait()
	m.elapsed = time.Since(start)
	warmTimer.Stop()
	stop()
	for _, w := range m.workers {
		m.acks = append(m.acks, w.acks...)
	}
	return m
}

// writeOnly is a worker of a write scenario: appends to a stream of its
// own, a new one every StreamLength events (the first event starts it).
func (m *measurement) writeOnly(ctx context.Context, c client, o Options, i int, w *worker, next func() bool) {
	stream, pos := 0, 0
	for op := 0; next(); op++ {
		id := "ms-" + o.RunID + "-w" + strconv.Itoa(i) + "-" + strconv.Itoa(stream)
		name := "append"
		if pos == 0 {
			name = "start"
		}
		ok := m.write(ctx, c, o, w, name, id, "w"+strconv.Itoa(i)+"-"+strconv.Itoa(op)+"-")
		switch {
		case ok:
			pos++
		case pos == 0:
			// A start that failed may still have been stored: start
			// another stream rather than meet a 409.
			stream++
		}
		if pos == m.s.StreamLength {
			stream, pos = stream+1, 0
		}
	}
}

// mixed is a worker of a mixed scenario: a writer writes with the
// scenario's probability and reads otherwise; a reader always reads.
func (m *measurement) mixed(ctx context.Context, c client, o Options, i int, isWriter bool, w *worker, next func() bool) {
	rng := mrand.New(mrand.NewPCG(o.Seed, uint64(i)))
	pick := func() int { return rng.IntN(m.s.PreloadStreams) }
	if m.s.Zipf > 1 {
		z := mrand.NewZipf(rng, m.s.Zipf, 1, uint64(m.s.PreloadStreams-1))
		// Stream k of rank r: the hot streams are spread over the ids.
		pick = func() int { return int(z.Uint64()*2654435761) % m.s.PreloadStreams }
	}
	for op := 0; next(); op++ {
		n := pick()
		id := streamID(o.RunID, n)
		if isWriter && rng.Float64() < m.s.WriteProbability {
			m.write(ctx, c, o, w, "append", id, "w"+strconv.Itoa(i)+"-"+strconv.Itoa(op)+"-")
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, o.Timeout)
		t0 := time.Now()
		page, err := c.readStream(rctx, id, 1, m.s.ReadBatch, 0)
		d := time.Since(t0)
		cancel()
		m.n.ops.Add(1)
		if err != nil {
			m.n.errors.Add(1)
			w.errors[code(err)]++
			continue
		}
		m.n.reads.Add(1)
		m.n.eventsRead.Add(int64(len(page.Events)))
		w.readLat = append(w.readLat, d)
	}
}

// write sends one command that appends one event with token's payload and
// records it; it reports whether it was acknowledged.
func (m *measurement) write(ctx context.Context, c client, o Options, w *worker, name, id, token string) bool {
	rctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	t0 := time.Now()
	reply, err := c.command(rctx, name, id, "", Append{Payload: Payload(token, m.s.EventSize)})
	d := time.Since(t0)
	m.n.ops.Add(1)
	if err != nil {
		m.n.errors.Add(1)
		w.errors[code(err)]++
		return false
	}
	m.n.writes.Add(1)
	m.n.eventsWritten.Add(int64(len(reply.Events)))
	w.writeLat = append(w.writeLat, d)
	for _, e := range reply.Events {
		w.acks = append(w.acks, Ack{Stream: id, Version: e.Version, Sequence: e.Sequence, Token: token, Size: m.s.EventSize})
	}
	return true
}

// report fills r from the measurement.
func (m *measurement) report(r *Report) {
	r.DurationS = m.elapsed.Seconds()
	r.Operations, r.Writes, r.Reads, r.Errors = m.n.ops.Load(), m.n.writes.Load(), m.n.reads.Load(), m.n.errors.Load()
	r.EventsWritten, r.EventsRead = m.n.eventsWritten.Load(), m.n.eventsRead.Load()
	var writes, reads []time.Duration
	for _, w := range m.workers {
		writes, reads = append(writes, w.writeLat...), append(reads, w.readLat...)
		for k, v := range w.errors {
			if r.ErrorsByCode == nil {
				r.ErrorsByCode = map[string]int64{}
			}
			r.ErrorsByCode[k] += v
		}
	}
	r.WriteLatency, r.ReadLatency = latencyOf(writes), latencyOf(reads)
	// The suite's throughput: what was done after the warm-up second, over
	// the time after it; a run too short for that counts from its start.
	ops, events, window := float64(r.Operations), float64(r.EventsWritten+r.EventsRead), m.elapsed.Seconds()
	if m.warmedUp && m.elapsed > 2*Warmup {
		ops, events, window = ops-float64(m.warmOps), events-float64(m.warmEvents), window-Warmup.Seconds()
		r.WarmupExcludedS = Warmup.Seconds()
	}
	r.Throughput, r.EventThroughput = round(ops/window), round(events/window)
}

// latencyOf summarises latencies: nearest-rank percentiles in milliseconds.
func latencyOf(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(d)))) - 1
		return round(float64(d[max(i, 0)].Microseconds()) / 1000)
	}
	return Latency{Count: len(d), P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: round(float64(d[len(d)-1].Microseconds()) / 1000)}
}

// round keeps two decimals.
func round(f float64) float64 { return math.Round(f*100) / 100 }
