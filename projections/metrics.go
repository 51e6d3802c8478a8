package projections

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	applied *prometheus.CounterVec
	lag     *prometheus.GaugeVec
	failed  *prometheus.GaugeVec
	gaps    *prometheus.CounterVec
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetsource_projection_events_applied_total",
			Help: "Events applied to Redis read models, by projection."}, []string{"projection"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "jetsource_projection_lag",
			Help: "Events of the projection's subjects it has still to apply: pending in its consumer, plus fetched and not yet applied."}, []string{"projection"}),
		failed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "jetsource_projection_failed",
			Help: "1 when the projection stopped on an event it cannot apply."}, []string{"projection"}),
		gaps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jetsource_projection_gaps_total",
			Help: "Deliveries a projection's consumer made that its runner was not handed; each made it start over from its checkpoint."}, []string{"projection"}),
	}
	if r != nil {
		r.MustRegister(m.applied, m.lag, m.failed, m.gaps)
	}
	return m
}

// lagOf records the lag of projection name: the events its consumer has
// still to deliver (a delivery's or the consumer's NumPending, which counts
// only the projection's own subjects) plus those delivered and not applied.
// The stream's last sequence would not do: it counts the events of every
// other aggregate type too, so the lag of a projection followed by events it
// does not subscribe to would never come back to 0.
func (m *metrics) lagOf(name string, pending, unapplied uint64) {
	m.lag.WithLabelValues(name).Set(float64(pending + unapplied))
}
