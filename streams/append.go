package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/jetsource/jetsource/codec"
)

// Version is an aggregate's version: the number of events it has. Version 0
// is an aggregate with no events.
type Version uint64

// Sequence is a position in the whole event stream, as JetStream numbers its
// messages.
type Sequence uint64

// Position is where an aggregate stands: its version and the stream sequence
// of its last event (0 and 0 for an aggregate with no events). Get one from
// Head, Read, a Repository or a previous Append; the zero Position expects a
// new aggregate.
type Position struct {
	Version  Version
	Sequence Sequence
}

// Event is an event to append.
type Event struct {
	// Type is the event type, past tense, e.g. MoneyDeposited.
	Type string
	// Schema is the payload's schema version; 0 means codec.DefaultSchema.
	Schema int
	// Data is the JSON payload.
	Data []byte
	// ID is the event's unique id (Nats-Msg-Id); empty means a new unique id.
	// A deterministic id (derived from a command id) makes a retried append
	// a no-op within the duplicate window.
	ID string
	// Personal names the top-level fields of Data that hold personal data:
	// they are stored sealed with the aggregate's key (see Forget).
	Personal []string
	// Forgets makes the append forget the aggregate once the event is
	// stored: its key is deleted, and the personal fields of its events
	// read as forgotten from then on.
	Forgets bool
}

// Metadata travels with every event of one append.
type Metadata struct {
	CommandID     string
	CorrelationID string
	CausationID   string
	// TraceParent and TraceState are the W3C trace context of the append
	// (traceparent, tracestate); empty when it has none.
	TraceParent string
	TraceState  string
}

// AppendOption sets metadata of an append.
type AppendOption func(*Metadata)

// WithCommandID records the command that caused the events (Es-Command-Id).
func WithCommandID(id string) AppendOption { return func(m *Metadata) { m.CommandID = id } }

// WithCorrelation records the correlation and causation ids
// (Es-Correlation-Id, Es-Causation-Id).
func WithCorrelation(correlationID, causationID string) AppendOption {
	return func(m *Metadata) { m.CorrelationID, m.CausationID = correlationID, causationID }
}

// WithTrace records the W3C trace context of the append (the traceparent
// and tracestate header values, HeaderTraceParent and HeaderTraceState), so
// that the consumers of its events continue the trace; empty values add no
// header.
func WithTrace(traceparent, tracestate string) AppendOption {
	return func(m *Metadata) { m.TraceParent, m.TraceState = traceparent, tracestate }
}

// Appended is the result of an append: the aggregate's new position and the
// recorded events.
type Appended struct {
	Position Position
	Events   []Recorded
}

// maxHeaderValue bounds metadata values so a header block stays small.
const maxHeaderValue = 256

// Append appends events to the aggregate ref, which the caller expects at
// position expected. All events are stored or none (one atomic batch), with
// consecutive versions from expected.Version+1. When another writer appended
// since expected, nothing is stored and the error is a *ConflictError.
func (s *Store) Append(ctx context.Context, ref Ref, expected Position, events []Event, opts ...AppendOption) (Appended, error) {
	if ref.IsZero() {
		return Appended{}, fmt.Errorf("append: %w: zero Ref (use NewRef)", ErrInvalidRef)
	}
	if _, err := s.route(ref); err != nil {
		return Appended{}, fmt.Errorf("append %w", err)
	}
	var meta Metadata
	for _, o := range opts {
		o(&meta)
	}
	msgs, recorded, err := s.messages(ref, expected, events, meta)
	if err != nil {
		return Appended{}, err
	}
	ctx, cancel := withTimeout(ctx, s.opts.Timeout)
	defer cancel()
	if err := s.seal(ctx, ref, events, msgs); err != nil {
		return Appended{}, err
	}

	var last Sequence
	if len(msgs) == 1 {
		ack, err := s.publish(ctx, msgs[0])
		if err != nil {
			return Appended{}, s.appendError(ctx, ref, expected, err)
		}
		if ack.Duplicate {
			// Stored before: a forget it asks for may not have happened.
			s.forgetIfAsked(ctx, ref, events)
			return Appended{}, fmt.Errorf("append %s: %w: event %s was stored before at sequence %d", ref, ErrDuplicate, recorded[0].ID, ack.Sequence)
		}
		last = Sequence(ack.Sequence)
	} else {
		ack, err := jetstreamext.PublishMsgBatch(ctx, s.js, msgs)
		if err != nil {
			return Appended{}, s.appendError(ctx, ref, expected, err)
		}
		last = Sequence(ack.Sequence)
	}
	// The batch is stored contiguously in the stream: the atomic commit
	// happens under the stream's lock.
	first := last - Sequence(len(recorded)) + 1
	for i := range recorded {
		recorded[i].Sequence = first + Sequence(i)
	}
	s.forgetIfAsked(ctx, ref, events)
	return Appended{
		Position: Position{Version: expected.Version + Version(len(recorded)), Sequence: last},
		Events:   recorded,
	}, nil
}

// publish stores one message and waits for its acknowledgement. It goes
// through the store's asynchronous publisher, so that concurrent appends
// share one acknowledgement path (one subscription, no goroutine per
// request) and pipeline as raw async publishes do.
func (s *Store) publish(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error) {
	// The asynchronous publisher takes no context: a deadline already past
	// must stop the send here, as nats.go's synchronous publish would (a
	// writer's deadline is the fence that keeps a paused writer, woken after
	// another took its command over, from appending).
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fut, err := s.pub.PublishMsgAsync(msg)
	if err != nil {
		return nil, err
	}
	select {
	case ack := <-fut.Ok():
		return ack, nil
	case err := <-fut.Err():
		return nil, err
	case <-ctx.Done():
		// Sent, unanswered: the outcome is unknown, as with a timeout.
		return nil, ctx.Err()
	}
}

// messages validates events and builds their messages and records.
func (s *Store) messages(ref Ref, expected Position, events []Event, meta Metadata) ([]*nats.Msg, []Recorded, error) {
	if len(events) == 0 {
		return nil, nil, fmt.Errorf("append %s: %w: no events", ref, ErrInvalidEvent)
	}
	if len(events) > s.opts.MaxBatch {
		return nil, nil, fmt.Errorf("append %s: %w: %d events, at most %d in one append",
			ref, ErrBatchTooLarge, len(events), s.opts.MaxBatch)
	}
	if expected.Version == 0 && expected.Sequence != 0 || expected.Version != 0 && expected.Sequence == 0 {
		return nil, nil, fmt.Errorf("append %s: expected position %+v is inconsistent: version and sequence are both zero or both set", ref, expected)
	}
	for _, v := range [...]struct{ name, value string }{
		{"command id", meta.CommandID}, {"correlation id", meta.CorrelationID}, {"causation id", meta.CausationID},
		{"traceparent", meta.TraceParent}, {"tracestate", meta.TraceState},
	} {
		if err := checkHeaderValue(v.value); err != nil {
			return nil, nil, fmt.Errorf("append %s: %w: %s %v", ref, ErrInvalidEvent, v.name, err)
		}
	}
	now := time.Now().UTC()
	stamp := now.Format(time.RFC3339Nano)
	subject := ref.Subject()
	msgs := make([]*nats.Msg, len(events))
	recorded := make([]Recorded, len(events))
	for i, e := range events {
		if err := codec.ValidateName(e.Type); err != nil {
			return nil, nil, fmt.Errorf("append %s: %w: event %d: %v", ref, ErrInvalidEvent, i, err)
		}
		schema := e.Schema
		if schema == 0 {
			schema = codec.DefaultSchema
		}
		if schema < 0 {
			return nil, nil, fmt.Errorf("append %s: %w: event %d (%s): schema %d is negative", ref, ErrInvalidEvent, i, e.Type, schema)
		}
		if !json.Valid(e.Data) {
			return nil, nil, fmt.Errorf("append %s: %w: event %d (%s): payload is not valid JSON", ref, ErrInvalidEvent, i, e.Type)
		}
		id := e.ID
		if id == "" {
			id = nuid.Next()
		} else if err := checkHeaderValue(id); err != nil {
			return nil, nil, fmt.Errorf("append %s: %w: event %d id %v", ref, ErrInvalidEvent, i, err)
		}
		version := expected.Version + Version(i) + 1
		// The header values of one message share one array: one
		// allocation instead of one per header.
		values := [...]string{id, e.Type, strconv.FormatUint(uint64(version), 10), strconv.Itoa(schema), stamp,
			meta.CommandID, meta.CorrelationID, meta.CausationID, meta.TraceParent, meta.TraceState, ""}
		if i == 0 {
			// Only the first message of a batch may carry the expectation;
			// the server holds the whole batch to it.
			values[len(values)-1] = strconv.FormatUint(uint64(expected.Sequence), 10)
		}
		shared := values[:]
		h := make(nats.Header, len(values))
		for j, name := range [...]string{HeaderMsgID, HeaderType, HeaderVersion, HeaderSchema, HeaderTime,
			HeaderCommandID, HeaderCorrelationID, HeaderCausationID, HeaderTraceParent, HeaderTraceState,
			headerExpectedLastSubjectSeq} {
			if shared[j] != "" {
				h[name] = shared[j : j+1 : j+1]
			}
		}
		msgs[i] = &nats.Msg{Subject: subject, Header: h, Data: e.Data}
		recorded[i] = Recorded{
			Ref: ref, Type: e.Type, Version: version, Schema: schema, Time: now, ID: id,
			CommandID: meta.CommandID, CorrelationID: meta.CorrelationID, CausationID: meta.CausationID,
			TraceParent: meta.TraceParent, TraceState: meta.TraceState, Data: e.Data,
		}
	}
	return msgs, recorded, nil
}

// checkHeaderValue refuses values that cannot travel in a NATS header.
func checkHeaderValue(v string) error {
	if len(v) > maxHeaderValue {
		return fmt.Errorf("is longer than %d bytes", maxHeaderValue)
	}
	if strings.ContainsAny(v, "\r\n\x00") {
		return fmt.Errorf("contains a line break or NUL")
	}
	return nil
}

// appendError turns a publish error into the store's errors.
func (s *Store) appendError(ctx context.Context, ref Ref, expected Position, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case errCodeWrongLastSequence, errCodeWrongLastSequenceConstant:
			conflict := &ConflictError{Ref: ref, Expected: expected}
			if head, herr := s.Head(ctx, ref); herr == nil {
				conflict.Actual = head
			}
			return conflict
		case errCodeAtomicDuplicate:
			return fmt.Errorf("append %s: %w: %v", ref, ErrDuplicate, err)
		case errCodeBatchTooLarge:
			return fmt.Errorf("append %s: %w: %v", ref, ErrBatchTooLarge, err)
		case errCodeDuplicateInProcess:
			// The same ids are being stored right now by another append:
			// it may or may not succeed. A resend of the same events
			// learns which (stored: a duplicate; not: stored now).
			return fmt.Errorf("append %s: %w: %w", ref, ErrUnavailable, err)
		}
	}
	return fmt.Errorf("append %s: %w", ref, classify(err))
}
