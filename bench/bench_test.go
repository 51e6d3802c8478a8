package bench_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/bench"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/service"
	"github.com/jetsource/jetsource/testkit"
)

// startPlatform runs the in-process platform (embedded NATS syncing every
// write, a private redis-server) with the sample and bench domains, as
// bench -standalone does, and connects to it.
func startPlatform(t *testing.T, domains ...service.Domain) *nats.Conn {
	t.Helper()
	rd := testkit.StartRedis(t)
	log := slog.New(slog.NewTextHandler(&testkit.SyncBuffer{}, nil))
	p, err := bench.StartStandalone(context.Background(), service.New(domains...), t.TempDir(), rd.URL, log)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Stop()) })
	nc, err := nats.Connect(p.NATSURL)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

func withBench() []service.Domain { return append(samples.Domains(), bench.Domain()) }

// tiny shrinks a scenario for a test: a few workers, a small setup and a
// bound on operations (the duration is only a safety net).
func tiny(s bench.Scenario) bench.Scenario {
	s.Duration = time.Minute
	if s.Mixed() {
		s.Writers, s.Readers, s.PreloadEvents, s.PreloadStreams, s.ReadBatch = 2, 3, 30, 8, 3
		s.WriteProbability = 0.5
	} else {
		s.Writers, s.StreamLength = 3, 4
	}
	return s
}

// Each scenario, run small against the in-process platform, reports every
// operation once, no error, its latencies, and a consistency check that
// read back every acknowledged event (the setup's too) from the stream and
// from the read model.
func TestScenariosReportTheirOperationsAndPassTheConsistencyCheck(t *testing.T) {
	nc := startPlatform(t, withBench()...)
	const ops = 48
	for _, s := range bench.Scenarios() {
		t.Run(s.Name, func(t *testing.T) {
			s := tiny(s)
			var progress testkit.SyncBuffer
			r, err := bench.Run(context.Background(), nc, s, bench.Options{MaxOps: ops, Progress: &progress, ProgressEvery: 10 * time.Millisecond})
			require.NoError(t, err)

			assert.Equal(t, s.Name, r.Scenario)
			assert.EqualValues(t, ops, r.Operations, "MaxOps bounds the run")
			assert.Zero(t, r.Errors, "errors: %v", r.ErrorsByCode)
			assert.Equal(t, r.Operations, r.Writes+r.Reads+r.Errors)
			assert.Equal(t, r.Writes, r.EventsWritten, "one event per write")
			assert.Positive(t, r.Writes)
			assert.Positive(t, r.Throughput)
			assertLatency(t, "writes", r.WriteLatency, r.Writes)
			assertLatency(t, "reads", r.ReadLatency, r.Reads)
			assert.Contains(t, progress.String(), s.Name, "a progress line while it runs")

			require.NotNil(t, r.Consistency)
			c := r.Consistency
			assert.True(t, c.Passed, "problems: %v", c.Problems)
			assert.Empty(t, c.Problems)
			want := int(r.Writes) + r.PreloadedEvents
			assert.Equal(t, want, c.Checked)
			assert.Equal(t, want, c.InStream)
			assert.Equal(t, want, c.InReadModel)
			assert.Len(t, r.Acks, want)

			if s.Mixed() {
				assert.Equal(t, s.PreloadStreams*s.EventsPerPreloadedStream(), r.PreloadedEvents, "ceil(events/streams) in each stream")
				assert.Positive(t, r.Reads)
				assert.LessOrEqual(t, r.EventsRead, r.Reads*int64(s.ReadBatch))
				assert.GreaterOrEqual(t, r.EventsRead, r.Reads, "every preloaded stream has events to read")
			} else {
				assert.Zero(t, r.Reads)
				// Each writer fills streams of StreamLength events, versions 1, 2, 3 …
				versions := map[string][]uint64{}
				for _, a := range r.Acks {
					versions[a.Stream] = append(versions[a.Stream], a.Version)
				}
				for id, vs := range versions {
					assert.LessOrEqual(t, len(vs), s.StreamLength, id)
					for i, v := range vs {
						assert.EqualValues(t, i+1, v, "%s: versions %v", id, vs)
					}
				}
				assert.GreaterOrEqual(t, len(versions), ops/s.StreamLength)
			}
			var out strings.Builder
			r.Print(&out)
			assert.Contains(t, out.String(), "consistency  passed")
		})
	}
}

func assertLatency(t *testing.T, what string, l bench.Latency, n int64) {
	t.Helper()
	assert.EqualValues(t, n, l.Count, what)
	if n == 0 {
		return
	}
	assert.Positive(t, l.P50, what)
	assert.True(t, l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max, "%s: %+v", what, l)
}

// The check fails when an acknowledgement names an event that is not
// there: one of a stream never written, a version a real stream never
// reached at another event's sequence, or a real event with another body.
func TestConsistencyCheckFailsWhenAnAcknowledgedWriteIsMissing(t *testing.T) {
	nc := startPlatform(t, withBench()...)
	s := tiny(bench.CQRSReadModel())
	r, err := bench.Run(context.Background(), nc, s, bench.Options{MaxOps: 10})
	require.NoError(t, err)
	require.True(t, r.Consistency.Passed, "problems: %v", r.Consistency.Problems)
	real := r.Acks
	first, last := real[0], real[len(real)-1]
	for _, a := range real {
		if a.Sequence > last.Sequence {
			last = a
		}
	}
	other := real[len(real)-1]
	for _, a := range real {
		if a.Stream != first.Stream {
			other = a
			break
		}
	}
	for _, c := range []struct {
		name, want string
		fake       bench.Ack
	}{
		{"a stream never written", "no event at its sequence",
			bench.Ack{Stream: "never-written", Version: 1, Sequence: last.Sequence + 1000, Token: "fake-", Size: s.EventSize}},
		{"a version past the stream's end", "holds an event of",
			bench.Ack{Stream: first.Stream, Version: 99, Sequence: other.Sequence, Token: other.Token, Size: s.EventSize}},
		{"another body", "holds another body",
			bench.Ack{Stream: first.Stream, Version: first.Version, Sequence: first.Sequence, Token: "changed-", Size: s.EventSize}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cons, err := bench.Check(context.Background(), nc, append(append([]bench.Ack(nil), real...), c.fake), bench.CheckOptions{})
			require.NoError(t, err)
			assert.False(t, cons.Passed)
			assert.Equal(t, len(real)+1, cons.Checked)
			assert.Equal(t, len(real), cons.InStream, "only the fabricated one is missing from the stream")
			assert.Equal(t, len(real), cons.InReadModel, "only the fabricated one is missing from the read model")
			assert.Contains(t, strings.Join(cons.Problems, "\n"), c.want)
			assert.Contains(t, strings.Join(cons.Problems, "\n"), c.fake.Stream)
		})
	}
}

// Against a deployment without the bench domain, a run stops at once and
// says what to do.
func TestRunWithoutTheBenchDomainSaysSo(t *testing.T) {
	nc := startPlatform(t, samples.Domains()...)
	_, err := bench.Run(context.Background(), nc, tiny(bench.MicroservicesAggregate()), bench.Options{MaxOps: 1})
	require.ErrorIs(t, err, bench.ErrNoBenchDomain)
	assert.Contains(t, err.Error(), "bench.Domain()")
}

// Every bad scenario is refused with what is wrong.
func TestScenarioValidationNamesTheProblem(t *testing.T) {
	for _, c := range []struct {
		name, want string
		change     func(*bench.Scenario)
	}{
		{"no workers", "at least one worker", func(s *bench.Scenario) { s.Writers, s.Readers = 0, 0 }},
		{"tiny events", "event size 10", func(s *bench.Scenario) { s.EventSize = 10 }},
		{"no duration", "duration 0s", func(s *bench.Scenario) { s.Duration = 0 }},
		{"probability", "write probability 1.5", func(s *bench.Scenario) { s.WriteProbability = 1.5 }},
		{"read batch", "read batch 5000", func(s *bench.Scenario) { s.ReadBatch = 5000 }},
		{"thin preload", "cannot fill 8000 streams", func(s *bench.Scenario) { s.PreloadEvents = 10 }},
		{"zipf", "zipf exponent 0.5", func(s *bench.Scenario) { s.Zipf = 0.5 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := bench.CQRSReadModel()
			c.change(&s)
			err := s.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	s := bench.MicroservicesAggregate()
	s.Readers = 2
	require.ErrorContains(t, s.Validate(), "readers need preloaded streams")
	for _, s := range bench.Scenarios() {
		require.NoError(t, s.Validate(), s.Name)
	}
	_, err := bench.ScenarioNamed("audit-log")
	require.ErrorContains(t, err, "the scenarios are microservices-aggregate, cqrs-read-model")
	got, err := bench.ScenarioNamed("scenario-cqrs-read-model")
	require.NoError(t, err)
	assert.Equal(t, bench.CQRSReadModel(), got)
}

// The suite's sizes: the event body is exactly the scenario's size.
func TestEventBodyHasTheScenariosSize(t *testing.T) {
	for _, s := range bench.Scenarios() {
		assert.Len(t, bench.EventBody("w7-123456-", s.EventSize), s.EventSize, s.Name)
	}
}

// The bench aggregate's decisions: start creates a stream with count
// events, append adds to an existing one, bad input is refused.
func TestBenchCommands(t *testing.T) {
	started := []any{bench.PayloadAppended{Payload: "p"}}
	testkit.RunAggregateCases(t, bench.Definition(), []testkit.AggregateCase{
		{Name: "starts", Command: "start", Data: `{"payload":"p","count":2}`, Then: append(started, started...)},
		{Name: "appends one by default", Command: "append", Given: started, Data: `{"payload":"q"}`, Then: []any{bench.PayloadAppended{Payload: "q"}}},
		{Name: "refuses to start twice", Command: "start", Given: started, Data: `{"payload":"p"}`, Error: aggregate.ErrExists},
		{Name: "refuses an append to no stream", Command: "append", Data: `{"payload":"p"}`, Error: aggregate.ErrNotFound},
		{Name: "refuses no payload", Command: "start", Data: `{}`, Error: aggregate.ErrInvalid, ErrorContains: "payload is required"},
		{Name: "refuses too many events", Command: "start", Data: `{"payload":"p","count":101}`, Error: aggregate.ErrInvalid, ErrorContains: "count 101 is out of 1..100"},
	})
}

// The read model keeps each stream in version order; the query pages it.
func TestStreamQueryReadsAStreamInVersionOrder(t *testing.T) {
	q := bench.Queries()[0]
	testkit.Projection(t, bench.Projection(), bench.Events()).
		Given("bench", "s-1", bench.PayloadAppended{Payload: "a"}, bench.PayloadAppended{Payload: "b"}, bench.PayloadAppended{Payload: "c"}).
		Then(q, `{"id":"s-1","limit":2}`, `{"id":"s-1","events":[{"version":1,"sequence":1,"data":{"payload":"a"}},{"version":2,"sequence":2,"data":{"payload":"b"}}]}`).
		Then(q, `{"id":"s-1","from":3}`, `{"id":"s-1","events":[{"version":3,"sequence":3,"data":{"payload":"c"}}]}`).
		Then(q, `{"id":"s-1","from":9}`, `{"id":"s-1","events":[]}`).
		ThenError(q, `{"id":"s-2"}`, projections.ErrNotFound)
}
