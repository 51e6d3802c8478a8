package projections_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/domain/order"
	"github.com/jetsource/jetsource/domain/product"
	"github.com/jetsource/jetsource/domain/user"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// lagOf reads jetsource_projection_lag of projection name from reg; ok is
// false while the runner has not recorded it.
func lagOf(t *testing.T, reg *prometheus.Registry, name string) (lag float64, ok bool) {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != "jetsource_projection_lag" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "projection" && l.GetValue() == name {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// Each projection sees only its own aggregate type's events, and the stream
// ends with events of the other types: its lag must still come back to 0.
func TestLagIsZeroOnceEveryProjectionCaughtUp(t *testing.T) {
	e := newEnv(t)
	for i := range 4 {
		id := fmt.Sprintf("m%d", i)
		e.add("order", id, order.OrderPlaced{}, order.OrderItemAdded{ItemID: "i1", Quantity: 2})
		e.add("account", id, account.AccountOpened{Owner: "o"})
		e.add("product", id, product.ProductRegistered{Name: "p"})
	}
	reg := prometheus.NewRegistry()
	start(t, e.runner(projections.WithMetrics(reg)))
	e.caughtUp()
	names := []string{account.ProjectionName, order.ProjectionName, product.ProjectionName, user.ProjectionName}
	testkit.Eventually(t, 10*time.Second, func() bool {
		for _, name := range names {
			if lag, ok := lagOf(t, reg, name); !ok || lag != 0 {
				return false
			}
		}
		return true
	}, "every projection's lag is 0 after catch-up")
}

// A projection stopped while events arrive has, once a runner starts it
// again, a lag of the events of its own subjects it has not applied, not
// counting the other types' events between them.
func TestLagCountsTheEventsAProjectionHasStillToApply(t *testing.T) {
	e := newEnv(t)
	var gate gatedApply
	notes := gate.projection("notes", "events.note.>")
	reg := prometheus.NewRegistry()
	stop := start(t, e.runnerWith([]projections.Projection{notes}, projections.WithMetrics(reg)))
	e.addRaw(must(streams.NewRef("note", "n0")), []streams.Event{{Type: "Noted", Data: []byte(`{}`)}})
	e.caughtUp()
	testkit.Eventually(t, 10*time.Second, func() bool {
		lag, ok := lagOf(t, reg, "notes")
		return ok && lag == 0
	}, "notes caught up")
	stop()

	const pendingNotes = 7
	for i := range pendingNotes {
		e.addRaw(must(streams.NewRef("note", fmt.Sprintf("n%d", i+1))), []streams.Event{{Type: "Noted", Data: []byte(`{}`)}})
		e.add("account", fmt.Sprintf("a%d", i), account.AccountOpened{Owner: "o"})
	}
	hold := gate.close()
	reg = prometheus.NewRegistry()
	start(t, e.runnerWith([]projections.Projection{notes}, projections.WithMetrics(reg)))
	testkit.Eventually(t, 10*time.Second, func() bool {
		notesLag, ok := lagOf(t, reg, "notes")
		accountsLag, ok2 := lagOf(t, reg, account.ProjectionName)
		return ok && ok2 && notesLag == pendingNotes && accountsLag == 0
	}, "notes lag %d events while it cannot apply them; accounts, running, none", pendingNotes)
	close(hold)
	testkit.Eventually(t, 10*time.Second, func() bool {
		lag, ok := lagOf(t, reg, "notes")
		return ok && lag == 0
	}, "notes lag 0 once it applied them")
}

// gatedApply makes projections whose Apply waits while a gate is closed.
type gatedApply struct{ gate atomic.Pointer[chan struct{}] }

// close closes the gate until the returned channel is closed.
func (g *gatedApply) close() chan struct{} {
	hold := make(chan struct{})
	g.gate.Store(&hold)
	return hold
}

func (g *gatedApply) projection(name, subject string) projections.Projection {
	return projections.Projection{Name: name, Subjects: []string{subject},
		Apply: func(ctx context.Context, tx *projections.Tx, ev streams.Recorded) error {
			if hold := g.gate.Load(); hold != nil {
				<-*hold
			}
			tx.Incr(ctx, tx.Keys.Key("count"))
			return nil
		}}
}
