package reader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/projections"
)

// Outcomes of a wait for min_sequence, as counted by the waits metric.
const (
	waitReached   = "reached"    // the projections reached the sequence
	waitStale     = "stale"      // they had not within wait_ms
	waitBeyondEnd = "beyond_end" // the stream has no such sequence yet: stale at once
	waitRefused   = "refused"    // the model had MaxWaits waiting: 503 at once
	waitFailed    = "failed"     // Redis could not tell
)

// waiting holds the queries that wait for a stream sequence. Each model has
// at most maxPerModel of them; each projection waited for has one poller
// that reads how far it has reached for all its waiters at once.
type waiting struct {
	rdb         redis.UniversalClient
	maxPerModel int
	pollTimeout time.Duration
	// pollEvery is how often a waited-for projection's position is read.
	pollEvery time.Duration
	// end is the end of the one event stream (nil when it is not known);
	// lastIn, in a deployment of several streams, the end of one, and ends
	// the streamEnd of each stream asked about.
	end    *streamEnd
	lastIn func(ctx context.Context, stream string) (uint64, error)
	ends   map[string]*streamEnd

	mu       sync.Mutex
	perModel map[string]int
	watches  map[string]*watch
	// pollers are the running pollers; Serve waits for them.
	pollers sync.WaitGroup

	log     *slog.Logger
	waits   *prometheus.CounterVec
	waitNow *prometheus.GaugeVec
	polls   *prometheus.CounterVec
}

func newWaiting(rdb redis.UniversalClient, opts Options) *waiting {
	w := &waiting{rdb: rdb, maxPerModel: opts.MaxWaits, pollTimeout: opts.ReadTimeout, pollEvery: opts.PollInterval,
		perModel: map[string]int{}, watches: map[string]*watch{}, lastIn: opts.LastSequenceIn, ends: map[string]*streamEnd{},
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetsource_reader_waits_total",
			Help: "Queries that waited for a min_sequence, by model and outcome (reached, stale, beyond_end, refused, failed)."},
			[]string{"model", "outcome"}),
		waitNow: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "jetsource_reader_waiting",
			Help: "Queries waiting for a min_sequence now, by model."}, []string{"model"}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetsource_reader_wait_polls_total",
			Help: "Reads of a projection's position made for the queries waiting on it (one per poll, whatever their number)."},
			[]string{"projection"}),
	}
	if opts.LastSequence != nil {
		w.end = &streamEnd{last: opts.LastSequence, log: opts.Logger}
	}
	w.log = opts.Logger
	return w
}

// endOf returns the end of stream ("" : the one stream), nil when unknown.
func (w *waiting) endOf(stream string) *streamEnd {
	if stream == "" || w.lastIn == nil {
		return w.end
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.ends[stream]
	if e == nil {
		e = &streamEnd{last: func(ctx context.Context) (uint64, error) { return w.lastIn(ctx, stream) }, log: w.log}
		w.ends[stream] = e
	}
	return e
}

func (w *waiting) collectors() []prometheus.Collector {
	return []prometheus.Collector{w.waits, w.waitNow, w.polls}
}

// errTooManyWaits answers a wait beyond the model's cap.
func errTooManyWaits(model string, most int) error {
	return &queryError{http.StatusServiceUnavailable, "unavailable",
		fmt.Sprintf("too many queries wait for the %s read model (at most %d); try again", model, most)}
}

// waitFor waits until every projection behind model reached seq of stream
// ("": the one stream), for at most
// wait. A query whose projections have reached seq returns at once, without
// a wait slot; one that must wait gives its read slot (reads) back while it
// waits, so that waits never hold up the queries that need none. The caller
// holds a read slot.
func (r *Reader) waitFor(ctx context.Context, model string, behind []string, stream string, seq uint64, wait time.Duration) error {
	w := r.waiting
	asked := time.Now()
	deadline := asked.Add(wait)
	waited := false
	for _, name := range behind {
		reached, err := projections.ReachedLabel(ctx, r.rdb, name)
		if err != nil {
			return err
		}
		if reached >= seq {
			continue
		}
		if !waited {
			if end := w.endOf(stream); end != nil {
				if last, beyond := end.beyond(ctx, seq, asked); beyond {
					w.count(model, waitBeyondEnd)
					return fmt.Errorf("%w: %s has reached sequence %d, not %d: the stream ends at sequence %d",
						errStale, name, reached, seq, last)
				}
			}
			if !w.take(model) {
				w.count(model, waitRefused)
				return errTooManyWaits(model, w.maxPerModel)
			}
			defer w.release(model)
			<-r.reads
			defer func() { r.reads <- struct{}{} }()
			waited = true
		}
		if err := w.watch(name).until(ctx, seq, deadline); err != nil {
			outcome := waitFailed
			if errors.Is(err, errNotReached) {
				outcome = waitStale
				err = fmt.Errorf("%w: %s has reached sequence %d, not %d, within %v", errStale, name, w.watch(name).last(), seq, wait)
			}
			w.count(model, outcome)
			return err
		}
	}
	if waited {
		w.count(model, waitReached)
	}
	return nil
}

func (w *waiting) count(model, outcome string) { w.waits.WithLabelValues(model, outcome).Inc() }

// take takes a wait slot of model, if one is free.
func (w *waiting) take(model string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.perModel[model] >= w.maxPerModel {
		return false
	}
	w.perModel[model]++
	w.waitNow.WithLabelValues(model).Inc()
	return true
}

func (w *waiting) release(model string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.perModel[model]--
	w.waitNow.WithLabelValues(model).Dec()
}

// watch returns the watch of projection name.
func (w *waiting) watch(name string) *watch {
	w.mu.Lock()
	defer w.mu.Unlock()
	wt := w.watches[name]
	if wt == nil {
		wt = &watch{waiting: w, name: name, waiters: map[*waiter]struct{}{}}
		w.watches[name] = wt
	}
	return wt
}

// errNotReached ends a wait whose deadline passed.
var errNotReached = errors.New("not reached")

// watch is one projection waited for. While anyone waits, one poller reads
// how far the projection has reached every PollInterval and wakes the
// waiters whose sequence it reached; it stops when the last one leaves.
type watch struct {
	*waiting
	name string

	mu      sync.Mutex
	waiters map[*waiter]struct{}
	polling bool
	reached uint64 // as of the last poll
}

// waiter is one query waiting; woken receives nil once its sequence is
// reached, or the error that ended the poll.
type waiter struct {
	seq   uint64
	woken chan error
}

// until waits until the projection reached seq, ctx is done or deadline
// passes (errNotReached).
func (wt *watch) until(ctx context.Context, seq uint64, deadline time.Time) error {
	me := &waiter{seq: seq, woken: make(chan error, 1)}
	wt.mu.Lock()
	wt.waiters[me] = struct{}{}
	if !wt.polling {
		wt.polling = true
		wt.pollers.Add(1)
		go wt.poll()
	}
	wt.mu.Unlock()

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case err := <-me.woken:
		return err
	case <-timer.C:
	case <-ctx.Done():
	}
	wt.mu.Lock()
	delete(wt.waiters, me)
	wt.mu.Unlock()
	select {
	case err := <-me.woken: // woken while it gave up
		return err
	default:
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errNotReached
}

func (wt *watch) last() uint64 {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	return wt.reached
}

// poll runs while anyone waits.
func (wt *watch) poll() {
	defer wt.pollers.Done()
	tick := time.NewTicker(wt.pollEvery)
	defer tick.Stop()
	for range tick.C {
		ctx, cancel := context.WithTimeout(context.Background(), wt.pollTimeout)
		reached, err := projections.ReachedLabel(ctx, wt.rdb, wt.name)
		cancel()
		wt.polls.WithLabelValues(wt.name).Inc()
		wt.mu.Lock()
		if err == nil {
			wt.reached = reached
		}
		for w := range wt.waiters {
			if err != nil || w.seq <= reached {
				w.woken <- err
				delete(wt.waiters, w)
			}
		}
		if len(wt.waiters) == 0 {
			wt.polling = false
			wt.mu.Unlock()
			return
		}
		wt.mu.Unlock()
	}
}

// streamEnd tells whether a sequence is beyond the end of the event stream.
// It asks the stream only when the sequence is beyond the highest end it
// knows, and one question at a time: the queries that arrived before a
// question was asked share its answer.
type streamEnd struct {
	last func(ctx context.Context) (uint64, error)
	log  *slog.Logger

	mu       sync.Mutex
	known    uint64    // the highest end seen
	knownAt  time.Time // when the question that saw it was asked
	inFlight *endQuestion
}

type endQuestion struct {
	asked time.Time
	done  chan struct{} // closed once err is set
	err   error
}

// beyond reports whether seq is beyond the end of the stream as of a moment
// after since (when the query arrived), and that end. When the stream
// cannot tell, it reports false: the query waits as it would without.
func (e *streamEnd) beyond(ctx context.Context, seq uint64, since time.Time) (uint64, bool) {
	for {
		e.mu.Lock()
		if seq <= e.known {
			e.mu.Unlock()
			return 0, false
		}
		if e.knownAt.After(since) {
			known := e.known
			e.mu.Unlock()
			return known, true
		}
		q := e.inFlight
		if q == nil {
			q = &endQuestion{asked: time.Now(), done: make(chan struct{})}
			e.inFlight = q
			e.mu.Unlock()
			last, err := e.last(ctx)
			e.mu.Lock()
			if err == nil {
				e.known, e.knownAt = max(e.known, last), q.asked
			}
			q.err = err
			e.inFlight = nil
			close(q.done)
		}
		e.mu.Unlock()
		// Wait for the question under way (or just answered), then look
		// again; its failure ends the queries it was asked for.
		select {
		case <-q.done:
		case <-ctx.Done():
			return 0, false
		}
		if q.err != nil && q.asked.After(since) {
			e.log.Debug("end of the stream unknown", "error", q.err)
			return 0, false
		}
	}
}

// LastSequenceOf returns a LastSequence option that asks JetStream for the
// last sequence of the named stream.
func LastSequenceOf(js jetstream.JetStream, stream string) func(context.Context) (uint64, error) {
	return func(ctx context.Context) (uint64, error) {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return 0, fmt.Errorf("reader: last sequence of stream %s: %w", stream, err)
		}
		return s.CachedInfo().State.LastSeq, nil
	}
}
