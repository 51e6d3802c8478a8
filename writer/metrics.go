package writer

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a command besides the contract's error codes, as
// jetsource_writer_commands_total labels them. Every outcome but outcomeOK
// is an error in the service's $SRV.STATS as well.
const (
	outcomeOK = "ok"
	// outcomeUnknown: the append's outcome could not be learnt; no reply.
	outcomeUnknown = "unknown"
	// outcomeNotAnswerable: the reply subject is one the writer writes to;
	// not run, no reply.
	outcomeNotAnswerable = "bad_reply_subject"
)

// metrics are the writer's Prometheus collectors.
type metrics struct {
	commands  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	events    *prometheus.CounterVec
	conflicts *prometheus.CounterVec
	// slowConsumer counts slow-consumer events on the endpoints: requests
	// NATS dropped before the writer saw them.
	slowConsumer prometheus.Counter
}

// newMetrics builds the writer's metrics and registers them on r; with a nil
// r they stay unregistered, which costs next to nothing.
func newMetrics(r prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetsource_writer_commands_total",
			Help: "Commands handled, by aggregate type, command and outcome (ok, unknown, bad_reply_subject or the error code).",
		}, []string{"type", "command", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jetsource_writer_command_seconds",
			Help:    "Time from receiving a command to answering it.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"type", "command"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetsource_writer_events_appended_total",
			Help: "Events appended to the event store, by aggregate type.",
		}, []string{"type"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetsource_writer_conflict_retries_total",
			Help: "Commands decided again after a concurrency conflict, by aggregate type.",
		}, []string{"type"}),
		slowConsumer: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jetsource_writer_slow_consumer_total",
			Help: "Slow-consumer events on the command endpoints: requests dropped past the pending limits, never answered.",
		}),
	}
	if r == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.commands, m.latency, m.events, m.conflicts, m.slowConsumer} {
		if err := r.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("writer: register metrics: %w", err)
	}
	return m, nil
}

// endpointMetrics are the children of one command endpoint's series that
// its commands count in, each looked up once (a vector's lookup hashes its
// label values on every call), at its first use: a series appears when it
// is first counted in, as with a lookup per command.
type endpointMetrics struct {
	ok        func() prometheus.Counter
	latency   func() prometheus.Observer
	events    func() prometheus.Counter
	conflicts func() prometheus.Counter
}

func (m *metrics) endpoint(typ, command string) endpointMetrics {
	return endpointMetrics{
		ok:        sync.OnceValue(func() prometheus.Counter { return m.commands.WithLabelValues(typ, command, outcomeOK) }),
		latency:   sync.OnceValue(func() prometheus.Observer { return m.latency.WithLabelValues(typ, command) }),
		events:    sync.OnceValue(func() prometheus.Counter { return m.events.WithLabelValues(typ) }),
		conflicts: sync.OnceValue(func() prometheus.Counter { return m.conflicts.WithLabelValues(typ) }),
	}
}

// observe counts one command of endpoint e with its outcome.
func (m *metrics) observe(e *endpoint, outcome string, d time.Duration) {
	if outcome == outcomeOK {
		e.metrics.ok().Inc()
	} else {
		m.commands.WithLabelValues(e.typ, e.command, outcome).Inc()
	}
	e.metrics.latency().Observe(d.Seconds())
}
