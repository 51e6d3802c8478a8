package bench

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/codec"
	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/reader"
	"github.com/jetsource/jetsource/service"
	"github.com/jetsource/jetsource/streams"
)

// Type is the bench aggregate type: commands on cmd.bench.<command>, events
// on events.bench.<id>. A bench aggregate is one of the suite's streams.
const Type = "bench"

// EventType is the type of every bench event.
const EventType = "BenchPayloadAppended"

// ProjectionName names the read model of the bench streams.
const ProjectionName = "bench_streams"

// Limits of a command and of the stream query.
const (
	// MaxEventsPerCommand bounds count: one command is one atomic batch.
	MaxEventsPerCommand = 100
	// MaxPayloadBytes bounds a payload (the event is the payload and 14
	// bytes of JSON around it).
	MaxPayloadBytes = 64 << 10
	// DefaultReadLimit is the suite's read batch of the cqrs-read-model
	// scenario.
	DefaultReadLimit = 50
	// MaxReadLimit bounds one page of the stream query.
	MaxReadLimit = 1000
)

// PayloadAppended is the event every bench command appends: its body is
// {"payload":"…"}, so that an event of N bytes carries N-14 bytes of
// payload (see EventBody).
type PayloadAppended struct {
	Payload string `json:"payload"`
}

// Append is the data of the start and append commands: count events (1 when
// absent), each with the payload.
type Append struct {
	Payload string `json:"payload"`
	Count   int    `json:"count,omitempty"`
}

// Validate refuses an empty or oversized payload and a count out of 1..100.
func (c Append) Validate() error {
	if c.Payload == "" {
		return aggregate.Invalid("payload is required")
	}
	if len(c.Payload) > MaxPayloadBytes {
		return aggregate.Invalid("payload has %d bytes, at most %d", len(c.Payload), MaxPayloadBytes)
	}
	if c.Count < 0 || c.Count > MaxEventsPerCommand {
		return aggregate.Invalid("count %d is out of 1..%d", c.Count, MaxEventsPerCommand)
	}
	return nil
}

// State is a bench stream: nothing but its events matter, and the platform
// keeps its version.
type State struct{}

// Events returns a registry of the bench event type.
func Events() *codec.Registry {
	r := codec.NewRegistry()
	codec.Register[PayloadAppended](r, EventType)
	return r
}

// Definition is the bench aggregate: start creates a stream with its first
// events, append adds events to an existing one. Neither refuses anything
// but bad input, as an event store's append does not.
func Definition() aggregate.Definition[State] {
	return aggregate.Definition[State]{Type: Type, Events: Events(),
		Evolve: func(s State, _ any) State { return s },
		// The state is empty: a snapshot would only cost a write.
		SnapshotEvery: -1,
		Commands: map[string]aggregate.Command[State]{
			"start":  aggregate.Create[State](appended),
			"append": aggregate.Handle(func(_ State, c Append) ([]any, error) { return appended(c) }),
		}}
}

func appended(c Append) ([]any, error) {
	n := max(c.Count, 1)
	events := make([]any, n)
	for i := range events {
		events[i] = PayloadAppended{Payload: c.Payload}
	}
	return events, nil
}

// StoredEvent is one event of a stream as the read model keeps it and the
// stream query answers it.
type StoredEvent struct {
	Version  uint64          `json:"version"`
	Sequence uint64          `json:"sequence"`
	Data     json.RawMessage `json:"data"`
}

// StreamPage is the answer of query.bench.stream.
type StreamPage struct {
	ID     string        `json:"id"`
	Events []StoredEvent `json:"events"`
}

// Projection keeps one Redis list per bench stream (stream:<id>), the events
// in version order, so that element i is version i+1: reading a stream's
// first N events is one LRANGE. Its writes are blind (the fast path).
func Projection() projections.Projection {
	return projections.Projection{Name: ProjectionName, Subjects: []string{streams.SubjectPrefix + "." + Type + ".>"},
		Apply: func(ctx context.Context, tx *projections.Tx, ev streams.Recorded) error {
			if ev.Type != EventType {
				return nil // a correction (EventVoided) or a type of a later version
			}
			stored, err := json.Marshal(StoredEvent{Version: uint64(ev.Version), Sequence: uint64(ev.Sequence), Data: ev.Data})
			if err != nil {
				return err
			}
			tx.RPush(ctx, tx.Keys.Key("stream", ev.Ref.ID()), stored)
			return nil
		}}
}

// streamRange reads elements ARGV[1]..ARGV[2] of a stream's list.
var streamRange = projections.NewReadScript(`return redis.call('LRANGE', KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))`)

// Queries are bench.stream {id, from, limit}: up to limit events of a
// stream from version from (1 when absent), in version order; 404 for a
// stream with no event projected.
func Queries() []reader.Query {
	return []reader.Query{{Model: Type, Name: "stream", Projection: ProjectionName,
		Params: []reader.Param{
			{Name: "id", Type: reader.String, Required: true, ID: true},
			{Name: "from", Type: reader.Integer, Default: 1, Min: 1, Max: 1 << 53},
			{Name: "limit", Type: reader.Integer, Default: DefaultReadLimit, Min: 1, Max: MaxReadLimit},
		},
		Read: func(ctx context.Context, v *projections.View, p reader.Params) (any, error) {
			return ReadStream(ctx, v, p.String("id"), p.Int("from"), p.Int("limit"))
		}}}
}

// ReadStream reads up to limit events of stream id from version from.
func ReadStream(ctx context.Context, v *projections.View, id string, from, limit int64) (StreamPage, error) {
	res, err := v.Run(ctx, streamRange, []string{v.Keys.Key("stream", id)},
		strconv.FormatInt(from-1, 10), strconv.FormatInt(from-1+limit-1, 10))
	if err != nil {
		return StreamPage{}, err
	}
	items, _ := res.([]any)
	if len(items) == 0 && from == 1 {
		return StreamPage{}, projections.NotFound("bench stream", id)
	}
	page := StreamPage{ID: id, Events: make([]StoredEvent, 0, len(items))}
	for _, it := range items {
		s, _ := it.(string)
		var e StoredEvent
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			return StreamPage{}, err
		}
		page.Events = append(page.Events, e)
	}
	return page, nil
}

// Domain is the bench domain for service.New: a deployment that is to be
// benchmarked over NATS runs it beside its own domains.
func Domain() service.Domain {
	return service.Domain{
		Aggregates:  []service.Aggregate{service.AggregateOf(Definition())},
		Projections: []projections.Projection{Projection()},
		Queries:     Queries(),
	}
}
