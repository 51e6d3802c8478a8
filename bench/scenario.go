package bench

import (
	"fmt"
	"strings"
	"time"
)

// Scenario is one workload of the Event Store Benchmark Suite
// (pyeventsourcing/eventstore-benchmarks, configs/scenarios), in the
// suite's own terms: workers, event size, operation mix, streams and
// duration.
type Scenario struct {
	// Name is the scenario's name in the suite, without its "scenario-".
	Name string `json:"name"`
	// Writers and Readers are the concurrent workers (the suite's
	// concurrency.writers and concurrency.readers).
	Writers int `json:"writers"`
	Readers int `json:"readers"`
	// EventSize is the size in bytes of each event's body
	// (operations.write.event_size_bytes).
	EventSize int `json:"event_size"`
	// Duration bounds the run (duration_seconds).
	Duration time.Duration `json:"-"`
	// WriteProbability is, in a mixed scenario, the chance that a writer's
	// operation is a write rather than a read (operations.write.probability;
	// readers always read, as in the suite).
	WriteProbability float64 `json:"write_probability,omitempty"`
	// ReadBatch is how many events one read asks for, from the start of the
	// stream (operations.read.batch_size).
	ReadBatch int `json:"read_batch,omitempty"`
	// PreloadEvents and PreloadStreams are the setup: PreloadEvents spread
	// over PreloadStreams streams, ceil(events/streams) each, written in
	// one append per stream (setup.prepopulate_*). A scenario with
	// PreloadStreams is mixed: its operations go to those streams.
	PreloadEvents  int `json:"preload_events,omitempty"`
	PreloadStreams int `json:"preload_streams,omitempty"`
	// StreamLength is, in a write scenario, how many events a writer
	// appends to a stream before it starts a new one (the suite's writer
	// loop: 10).
	StreamLength int `json:"stream_length,omitempty"`
	// Zipf, when above 1, picks a mixed scenario's streams with a Zipf
	// distribution of that exponent (a few hot streams) instead of the
	// suite's uniform choice.
	Zipf float64 `json:"zipf,omitempty"`
}

// Mixed reports whether the scenario reads and writes preloaded streams
// (the suite's mode: mixed) rather than only appending to new streams
// (mode: write).
func (s Scenario) Mixed() bool { return s.PreloadStreams > 0 }

// EventsPerPreloadedStream is how many events the setup writes to each
// preloaded stream: ceil(PreloadEvents/PreloadStreams), as the suite does.
func (s Scenario) EventsPerPreloadedStream() int {
	if s.PreloadStreams == 0 {
		return 0
	}
	return (s.PreloadEvents + s.PreloadStreams - 1) / s.PreloadStreams
}

// Distribution names how a mixed scenario picks its streams.
func (s Scenario) Distribution() string {
	switch {
	case !s.Mixed():
		return fmt.Sprintf("each writer its own new stream every %d events", s.StreamLength)
	case s.Zipf > 1:
		return fmt.Sprintf("zipf s=%g over %d streams", s.Zipf, s.PreloadStreams)
	default:
		return fmt.Sprintf("uniform over %d streams", s.PreloadStreams)
	}
}

// MinEventSize is the smallest event a scenario may ask for: the JSON
// around the payload and the payload's unique token must fit.
const MinEventSize = 64

// Validate refuses a scenario that cannot run, naming what is wrong.
func (s Scenario) Validate() error {
	var bad []string
	if s.Name == "" {
		bad = append(bad, "a name is required")
	}
	if s.Writers < 0 || s.Readers < 0 || s.Writers+s.Readers == 0 {
		bad = append(bad, fmt.Sprintf("writers %d and readers %d: at least one worker, none negative", s.Writers, s.Readers))
	}
	if s.EventSize < MinEventSize || s.EventSize > MaxPayloadBytes {
		bad = append(bad, fmt.Sprintf("event size %d is out of %d..%d bytes", s.EventSize, MinEventSize, MaxPayloadBytes))
	}
	if s.Duration <= 0 {
		bad = append(bad, fmt.Sprintf("duration %v must be positive", s.Duration))
	}
	if s.Mixed() {
		if s.WriteProbability < 0 || s.WriteProbability > 1 {
			bad = append(bad, fmt.Sprintf("write probability %g is out of 0..1", s.WriteProbability))
		}
		if s.ReadBatch < 1 || s.ReadBatch > MaxReadLimit {
			bad = append(bad, fmt.Sprintf("read batch %d is out of 1..%d", s.ReadBatch, MaxReadLimit))
		}
		if s.PreloadEvents < s.PreloadStreams {
			bad = append(bad, fmt.Sprintf("preload of %d events cannot fill %d streams", s.PreloadEvents, s.PreloadStreams))
		}
		if n := s.EventsPerPreloadedStream(); n > MaxEventsPerCommand {
			bad = append(bad, fmt.Sprintf("%d preloaded events per stream, at most %d (one command each)", n, MaxEventsPerCommand))
		}
		if s.Zipf != 0 && s.Zipf <= 1 {
			bad = append(bad, fmt.Sprintf("zipf exponent %g must be above 1 (or 0 for uniform)", s.Zipf))
		}
	} else {
		if s.Readers > 0 {
			bad = append(bad, "readers need preloaded streams to read")
		}
		if s.StreamLength < 1 {
			bad = append(bad, fmt.Sprintf("stream length %d must be at least 1", s.StreamLength))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("scenario %s: %s", s.Name, strings.Join(bad, "; "))
	}
	return nil
}

// MicroservicesAggregate is the suite's scenario-microservices-aggregate:
// 8 writers append 512-byte events for 60 s, each to a stream of its own
// that it replaces by a new one every 10 events.
func MicroservicesAggregate() Scenario {
	return Scenario{Name: "microservices-aggregate", Writers: 8, EventSize: 512, Duration: 60 * time.Second, StreamLength: 10}
}

// CQRSReadModel is the suite's scenario-cqrs-read-model: 30,000 events
// preloaded over 8,000 streams (4 each), then for 120 s 4 writers (each
// operation a write of a 384-byte event with probability 0.15, else a read)
// and 24 readers read the first 50 events of a stream chosen uniformly.
func CQRSReadModel() Scenario {
	return Scenario{Name: "cqrs-read-model", Writers: 4, Readers: 24, EventSize: 384, Duration: 120 * time.Second,
		WriteProbability: 0.15, ReadBatch: DefaultReadLimit, PreloadEvents: 30000, PreloadStreams: 8000}
}

// Scenarios are the suite's scenarios that this package runs, in order.
func Scenarios() []Scenario { return []Scenario{MicroservicesAggregate(), CQRSReadModel()} }

// ScenarioNamed returns the scenario of that name (with or without the
// suite's "scenario-" prefix).
func ScenarioNamed(name string) (Scenario, error) {
	var names []string
	for _, s := range Scenarios() {
		if s.Name == strings.TrimPrefix(name, "scenario-") {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return Scenario{}, fmt.Errorf("no scenario %q: the scenarios are %s", name, strings.Join(names, ", "))
}
