package writer_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/testkit"
	"github.com/jetsource/jetsource/writer"
)

// endpointStats is the $SRV.STATS of the writer's endpoint on subject.
func endpointStats(t *testing.T, nc *nats.Conn, subject string) *micro.EndpointStats {
	t.Helper()
	for _, e := range writerStats(t, nc).Endpoints {
		if e.Subject == subject {
			return e
		}
	}
	t.Fatalf("no endpoint on %s in the writer's stats", subject)
	return nil
}

func writerStats(t *testing.T, nc *nats.Conn) micro.Stats {
	t.Helper()
	return testkit.ServiceStats(t, nc, writer.ServiceName, 1)[0]
}

// commandMetrics are the writer's Prometheus figures of one command.
type commandMetrics struct {
	outcomes map[string]float64 // jetsource_writer_commands_total by outcome
	seconds  float64            // jetsource_writer_command_seconds' sum
}

func gatherCommandMetrics(t *testing.T, reg *prometheus.Registry) map[string]*commandMetrics {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]*commandMetrics{}
	of := func(labels map[string]string) *commandMetrics {
		key := "cmd." + labels["type"] + "." + labels["command"]
		if got[key] == nil {
			got[key] = &commandMetrics{outcomes: map[string]float64{}}
		}
		return got[key]
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch f.GetName() {
			case "jetsource_writer_commands_total":
				of(labels).outcomes[labels["outcome"]] += m.GetCounter().GetValue()
			case "jetsource_writer_command_seconds":
				of(labels).seconds += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return got
}

// TestStatsAndMetricsCountEveryCommandWithItsWholeHandling sends good and
// failing commands and checks that $SRV.STATS counts each when answered,
// every error reply (400 to 500, 404 and 409 included, as micro counts every
// Error reply) and a command not answered as errors, and agrees with the
// Prometheus counters.
func TestStatsAndMetricsCountEveryCommandWithItsWholeHandling(t *testing.T) {
	n := testkit.StartNATS(t)
	reg := prometheus.NewRegistry()
	startWriter(t, n, writer.WithMetrics(reg))
	nc := n.Connect()

	ok(t, nc, "cmd.account.open", `{"aggregate_id":"st-1","data":{"owner":"ada"}}`)
	for range 3 {
		ok(t, nc, "cmd.account.deposit", `{"aggregate_id":"st-1","data":{"amount":10}}`)
	}
	for _, c := range []struct {
		subject, body string
		status        int
	}{
		{"cmd.account.deposit", `{"aggregate_id":"st-1","data":`, 400},
		{"cmd.account.deposit", `{"aggregate_id":"nobody","data":{"amount":1}}`, 404},
		{"cmd.account.deposit", `{"aggregate_id":"st-1","expected_version":1,"data":{"amount":1}}`, 409},
		{"cmd.account.withdraw", `{"aggregate_id":"st-1","data":{"amount":500}}`, 422},
		{"cmd.account.withdraw", `{"aggregate_id":"st-1","data":{"amount":600}}`, 422},
		{"cmd.buggy.explode", `{"aggregate_id":"b1"}`, 500},
	} {
		r := send(t, nc, c.subject, c.body)
		require.Equal(t, c.status, r.status, "%s %s: %s", c.subject, c.body, r.raw)
	}
	// A reply subject the writer writes to: not run, not answered, counted.
	require.NoError(t, nc.PublishRequest("cmd.account.deposit", "$JS.API.INFO", []byte(`{"aggregate_id":"st-1","data":{"amount":1}}`)))
	testkit.Eventually(t, 10*time.Second, func() bool {
		return endpointStats(t, nc, "cmd.account.deposit").NumRequests == 7
	}, "the unanswered deposit counted")

	deposit := endpointStats(t, nc, "cmd.account.deposit")
	assert.Equal(t, 4, deposit.NumErrors, "deposit: 400, 404, 409 and the one not answered")
	withdraw := endpointStats(t, nc, "cmd.account.withdraw")
	assert.Equal(t, 2, withdraw.NumRequests)
	assert.Equal(t, 2, withdraw.NumErrors)
	assert.Equal(t, "422:rejected: insufficient funds: balance 30, withdrawal 600", withdraw.LastError)
	explode := endpointStats(t, nc, "cmd.buggy.explode")
	assert.Equal(t, 1, explode.NumErrors)
	assert.Equal(t, "500:internal error; it has been logged", explode.LastError)

	// Every endpoint's stats agree with the Prometheus counters.
	metrics := gatherCommandMetrics(t, reg)
	stats := writerStats(t, nc)
	require.NotEmpty(t, stats.Endpoints)
	for _, e := range stats.Endpoints {
		m := metrics[e.Subject]
		if m == nil {
			assert.Zero(t, e.NumRequests, "%s: requests counted in the stats but not in the metrics", e.Subject)
			continue
		}
		testkit.CheckEndpointStats(t, e, m.outcomes, m.seconds)
	}
}
