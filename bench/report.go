package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// Latency summarises the latencies of one kind of operation, in
// milliseconds (nearest-rank percentiles of every acknowledged operation).
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Report is what a run of one scenario measured.
type Report struct {
	Scenario         string  `json:"scenario"`
	Writers          int     `json:"writers"`
	Readers          int     `json:"readers"`
	EventSize        int     `json:"event_size"`
	Distribution     string  `json:"streams"`
	WriteProbability float64 `json:"write_probability,omitempty"`
	ReadBatch        int     `json:"read_batch,omitempty"`
	PreloadedEvents  int     `json:"preloaded_events,omitempty"`
	PreloadedStreams int     `json:"preloaded_streams,omitempty"`
	// DurationS is how long the workers ran.
	DurationS float64 `json:"duration_s"`
	// WarmupExcludedS is the warm-up left out of the throughputs.
	WarmupExcludedS float64 `json:"warmup_excluded_s"`
	// Operations are the operations attempted: Writes and Reads succeeded,
	// Errors did not (by code in ErrorsByCode: the platform's status,
	// timeout, other).
	Operations   int64            `json:"operations"`
	Writes       int64            `json:"writes"`
	Reads        int64            `json:"reads"`
	Errors       int64            `json:"errors"`
	ErrorsByCode map[string]int64 `json:"errors_by_code,omitempty"`
	// Throughput is operations per second.
	Throughput float64 `json:"throughput_ops"`
	// EventThroughput is events written and read per second: the suite's
	// throughput_eps.
	EventThroughput float64      `json:"throughput_events"`
	EventsWritten   int64        `json:"events_written"`
	EventsRead      int64        `json:"events_read"`
	WriteLatency    Latency      `json:"write_latency"`
	ReadLatency     Latency      `json:"read_latency"`
	Consistency     *Consistency `json:"consistency,omitempty"`
	// Acks are the acknowledged events, the setup's included.
	Acks []Ack `json:"-"`
}

// Print writes the report for a person.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "scenario %s: %d writers, %d readers, %d-byte events, %s\n", r.Scenario, r.Writers, r.Readers, r.EventSize, r.Distribution)
	if r.PreloadedStreams > 0 {
		fmt.Fprintf(w, "  setup        %d events preloaded in %d streams; writers write with probability %g, reads take %d events\n",
			r.PreloadedEvents, r.PreloadedStreams, r.WriteProbability, r.ReadBatch)
	}
	fmt.Fprintf(w, "  operations   %d in %.1fs: %d writes, %d reads, %d errors%s\n", r.Operations, r.DurationS, r.Writes, r.Reads, r.Errors, errorCodes(r.ErrorsByCode))
	fmt.Fprintf(w, "  throughput   %.0f ops/s, %.0f events/s (%d written, %d read; first %.0fs left out)\n",
		r.Throughput, r.EventThroughput, r.EventsWritten, r.EventsRead, r.WarmupExcludedS)
	for _, l := range []struct {
		name string
		l    Latency
	}{{"writes", r.WriteLatency}, {"reads", r.ReadLatency}} {
		if l.l.Count > 0 {
			fmt.Fprintf(w, "  %-12s p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms  (%d)\n", l.name, l.l.P50, l.l.P95, l.l.P99, l.l.Max, l.l.Count)
		}
	}
	c := r.Consistency
	if c == nil {
		fmt.Fprintln(w, "  consistency  not checked")
		return
	}
	verdict := "FAILED"
	if c.Passed {
		verdict = "passed"
	}
	fmt.Fprintf(w, "  consistency  %s: %d acknowledged events, %d in the stream at their version, %d in the read model\n",
		verdict, c.Checked, c.InStream, c.InReadModel)
	for _, p := range c.Problems {
		fmt.Fprintf(w, "    %s\n", p)
	}
}

func errorCodes(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return " (" + strings.Join(parts, " ") + ")"
}
