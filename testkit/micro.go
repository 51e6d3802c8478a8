package testkit

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// statsTimeout bounds the wait for each instance's $SRV.STATS reply.
const statsTimeout = 5 * time.Second

// ServiceStats asks every instance of the micro service name for its
// $SRV.STATS and returns the replies of the n instances expected; t fails
// when fewer answer or a reply is not micro.Stats.
func ServiceStats(t testing.TB, nc *nats.Conn, name string, n int) []micro.Stats {
	t.Helper()
	subject, err := micro.ControlSubject(micro.StatsVerb, name, "")
	if err != nil {
		t.Fatalf("testkit: stats of %q: %v", name, err)
	}
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatalf("testkit: stats of %s: %v", name, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		t.Fatalf("testkit: stats of %s: %v", name, err)
	}
	stats := make([]micro.Stats, n)
	for i := range stats {
		msg, err := sub.NextMsg(statsTimeout)
		if err != nil {
			t.Fatalf("testkit: stats of %s: reply %d of %d: %v", name, i+1, n, err)
		}
		if err := json.Unmarshal(msg.Data, &stats[i]); err != nil || stats[i].Type != micro.StatsResponseType {
			t.Fatalf("testkit: stats of %s: not a micro stats reply (%v): %s", name, err, msg.Data)
		}
	}
	return stats
}

// CheckEndpointStats checks that an endpoint's micro stats agree with the
// service's own count of the endpoint's requests by outcome ("ok" the only
// success; what its Prometheus metrics hold) and their summed handling time
// in seconds: as many requests and errors, and a processing_time no shorter,
// since the stats stop the clock when the reply goes out, after the metrics
// did.
func CheckEndpointStats(t testing.TB, e *micro.EndpointStats, outcomes map[string]float64, seconds float64) {
	t.Helper()
	var requests, failures float64
	for outcome, n := range outcomes {
		requests += n
		if outcome != "ok" {
			failures += n
		}
	}
	if float64(e.NumRequests) != requests || float64(e.NumErrors) != failures {
		t.Errorf("%s: num_requests %d and num_errors %d, but the service counted %v requests and %v errors (%v)",
			e.Subject, e.NumRequests, e.NumErrors, requests, failures, outcomes)
	}
	// A microsecond of slack for the float sum of the metrics.
	if e.ProcessingTime.Seconds()+1e-6 < seconds {
		t.Errorf("%s: processing_time %v is below the %vs the service measured", e.Subject, e.ProcessingTime, seconds)
	}
}
