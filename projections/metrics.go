package projections

import (
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetsource/jetsource/streams"
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
			Help: "Stream last sequence minus the projection's checkpoint."}, []string{"projection"}),
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

// lagOf records the lag from the stream's cached state.
func (m *metrics) lagOf(name string, s jetstream.Stream, cp streams.Sequence) {
	info := s.CachedInfo()
	if info == nil {
		return
	}
	last := streams.Sequence(info.State.LastSeq)
	if last < cp {
		last = cp
	}
	m.lag.WithLabelValues(name).Set(float64(last - cp))
}
