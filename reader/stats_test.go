package reader_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/testkit"
)

// queryMetrics are jetsource_reader_query_seconds of one query: the count by
// outcome and the sum.
type queryMetrics struct {
	outcomes map[string]float64
	seconds  float64
}

func gatherQueryMetrics(t *testing.T, reg *prometheus.Registry) map[string]*queryMetrics {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]*queryMetrics{}
	for _, f := range families {
		if f.GetName() != "jetsource_reader_query_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			key := "query." + labels["model"] + "." + labels["query"]
			if got[key] == nil {
				got[key] = &queryMetrics{outcomes: map[string]float64{}}
			}
			got[key].outcomes[labels["outcome"]] += float64(m.GetHistogram().GetSampleCount())
			got[key].seconds += m.GetHistogram().GetSampleSum()
		}
	}
	return got
}

// TestStatsAndMetricsCountEveryQueryWithItsWholeHandling sends good and
// failing queries and checks that $SRV.STATS counts each when answered, with
// its wait, every error reply (400 to 503, 404 included, as micro counts
// every Error reply) as an error, and agrees with the Prometheus metrics.
func TestStatsAndMetricsCountEveryQueryWithItsWholeHandling(t *testing.T) {
	const held = 200 * time.Millisecond
	w := newWorld(t)
	stopProjecting := w.project()
	reg := prometheus.NewRegistry()
	w.serve([]reader.Option{reader.WithLastSequence(w.lastSequence()), reader.WithMetrics(reg)}, func(r *reader.Reader) {
		require.NoError(t, r.Register(reader.Query{Model: "account", Name: "boom", Projection: account.ProjectionName,
			Read: func(context.Context, *projections.View, reader.Params) (any, error) { panic("a bug") }}))
	})
	seq := command(t, w.nc, "cmd.account.open", `{"aggregate_id":"s1","data":{"owner":"ada"}}`).Sequence
	for range 3 {
		require.Equal(t, 200, ask(t, w.nc, "query.account.get", fmt.Sprintf(`{"id":"s1","min_sequence":%d}`, seq)).status)
	}
	require.Equal(t, 200, ask(t, w.nc, "query.account.list", `{}`).status)
	for _, c := range []struct {
		subject, body string
		status        int
	}{
		{"query.account.get", `{}`, 400},
		{"query.account.get", `{"id":"nobody"}`, 404},
		{"query.account.get", `{"id":"s1","min_sequence":1000000}`, 503},
		{"query.account.boom", `{}`, 500},
	} {
		require.Equal(t, c.status, ask(t, w.nc, c.subject, c.body).status, "%s %s", c.subject, c.body)
	}

	// A query that waits for its sequence is counted with its wait.
	stopProjecting()
	behind := command(t, w.nc, "cmd.account.deposit", `{"aggregate_id":"s1","data":{"amount":7}}`).Sequence
	waited := askLater(w.nc, "query.account.get", fmt.Sprintf(`{"id":"s1","min_sequence":%d,"wait_ms":30000}`, behind))
	testkit.Eventually(t, 10*time.Second, func() bool { return metric(t, reg, "jetsource_reader_waiting", "account") == 1 },
		"the query waits")
	time.Sleep(held)
	w.project()
	require.Equal(t, 200, answerOf(t, <-waited).status)

	byEndpoint := map[string]*micro.EndpointStats{}
	for _, e := range testkit.ServiceStats(t, w.nc, reader.ServiceName, 1)[0].Endpoints {
		byEndpoint[e.Subject] = e
	}
	get := byEndpoint["query.account.get"]
	require.NotNil(t, get)
	assert.Equal(t, 7, get.NumRequests, "account.get: 3 + 3 failing + the one that waited")
	assert.Equal(t, 3, get.NumErrors, "account.get: 400, 404 and 503")
	assert.Contains(t, get.LastError, "503:")
	assert.GreaterOrEqual(t, get.ProcessingTime, held, "account.get's processing_time holds the wait")
	boom := byEndpoint["query.account.boom"]
	require.NotNil(t, boom)
	assert.Equal(t, "500:internal error; it has been logged", boom.LastError)

	// Every endpoint's stats agree with the Prometheus metrics.
	metrics := gatherQueryMetrics(t, reg)
	for subject, e := range byEndpoint {
		m := metrics[subject]
		if m == nil {
			assert.Zero(t, e.NumRequests, "%s: requests counted in the stats but not in the metrics", subject)
			continue
		}
		testkit.CheckEndpointStats(t, e, m.outcomes, m.seconds)
	}
}
