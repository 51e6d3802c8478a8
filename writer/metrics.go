package writer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	commands  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	events    *prometheus.CounterVec
	conflicts *prometheus.CounterVec
}

// newMetrics builds the writer's metrics and registers them on r (nil: kept
// unregistered, which costs next to nothing).
func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetsource_writer_commands_total",
			Help: "Commands handled, by aggregate type, command and outcome (ok or the error code)."}, []string{"type", "command", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jetsource_writer_command_seconds",
			Help: "Time from receiving a command to replying.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"type", "command"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetsource_writer_events_appended_total",
			Help: "Events appended to the event store, by aggregate type."}, []string{"type"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetsource_writer_conflict_retries_total",
			Help: "Commands decided again after a concurrency conflict, by aggregate type."}, []string{"type"}),
	}
	if r != nil {
		r.MustRegister(m.commands, m.latency, m.events, m.conflicts)
	}
	return m
}

func (m *metrics) observe(typ, command, outcome string, d time.Duration) {
	m.commands.WithLabelValues(typ, command, outcome).Inc()
	m.latency.WithLabelValues(typ, command).Observe(d.Seconds())
}
