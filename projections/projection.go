package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/codec"
	"github.com/jetsource/jetsource/streams"
)

// Projection turns events into a Redis read model.
type Projection struct {
	// Name names the projection and its keys: [a-z][a-z0-9_]*.
	Name string
	// Subjects are the event subjects it follows, e.g. events.account.>.
	Subjects []string
	// Apply queues the writes of one event on tx, every key made with
	// tx.Keys (the key space of the generation being written). The writes
	// of a batch of events run in one MULTI/EXEC with the checkpoint, so
	// they are applied all or none, and exactly once. An error means the
	// event cannot be applied (a poison event). ctx ends when the runner
	// stops.
	Apply func(ctx context.Context, tx *Tx, ev streams.Recorded) error
	// ReadsModel lets Apply read the projection's own keys (tx.Read). It
	// costs throughput: each event is then applied in a transaction of its
	// own (so that a read sees every earlier event's writes), one round
	// trip or more per event instead of one per batch. Blind writes
	// (HSET, HINCRBY, ZADD …) need no reads and are the fast path.
	ReadsModel bool
	// Partitions splits the projection by aggregate into that many
	// partitions (PartitionOf), each with its own consumer, checkpoint,
	// lease, generation and status, shared out among the runners; 0 or 1
	// is one partition, the layout of a projection without partitions.
	// Queries read the partitions through the View (View.For, View.Part).
	Partitions int
}

// MaxPartitions bounds Projection.Partitions.
const MaxPartitions = 256

// Tx is what Apply is handed for one event: the writes it queues, which
// run in the projection's MULTI/EXEC with its checkpoint, the key space of
// the generation being written, and, for a projection with ReadsModel, a
// client to read its own keys.
type Tx struct {
	redis.Pipeliner
	// Keys names the keys of the generation being written.
	Keys       KeySpace
	projection string
	reader     redis.Cmdable
	personal   PersonalData
}

// Read returns a client that reads the projection's own keys as committed
// so far (every earlier event applied). It is there only for a projection
// that sets ReadsModel; for any other it panics, which makes the event a
// poison event that names the cause.
func (tx *Tx) Read() redis.Cmdable {
	if tx.reader == nil {
		panic(fmt.Sprintf("projection %s reads its model in Apply but does not set ReadsModel", tx.projection))
	}
	return tx.reader
}

func (p Projection) validate() error {
	if p.Name == "" || p.Apply == nil || len(p.Subjects) == 0 {
		return fmt.Errorf("projections: projection %q needs a name, subjects and Apply", p.Name)
	}
	for _, c := range p.Name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("projections: projection name %q: only a-z, 0-9 and _", p.Name)
		}
	}
	if p.Partitions < 0 || p.Partitions > MaxPartitions {
		return fmt.Errorf("projections: projection %s: partitions must be between 0 and %d, got %d", p.Name, MaxPartitions, p.Partitions)
	}
	return nil
}

// ErrVersionSequence marks an event whose Es-Version does not follow the
// last one applied of its aggregate: a forged, repeated or lost event.
var ErrVersionSequence = errors.New("event breaks its aggregate's version sequence")

// VersionError is an event that breaks its aggregate's version sequence.
type VersionError struct {
	// Subject is the aggregate's subject.
	Subject string
	// Last is the last version applied of it (0: none yet); Got is the
	// event's.
	Last, Got streams.Version
}

func (e *VersionError) Error() string {
	if e.Last == 0 {
		return fmt.Sprintf("%v: the first event of %s has version %d, not 1", ErrVersionSequence, e.Subject, e.Got)
	}
	return fmt.Sprintf("%v: version %d of %s follows version %d, not %d", ErrVersionSequence, e.Got, e.Subject, e.Last, e.Last+1)
}

func (e *VersionError) Unwrap() error { return ErrVersionSequence }

// ApplyError is a handler's refusal of one event.
type ApplyError struct {
	Projection string
	Event      streams.Recorded
	Err        error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("projection %s cannot apply %s (version %d, sequence %d, subject %s): %v",
		e.Projection, e.Event.Type, e.Event.Version, e.Event.Sequence, e.Event.Ref.Subject(), e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// Decoding returns an Apply that decodes each event with the domain's
// registry (upcasting older schemas) and hands apply the typed event, so
// that a projection's handler is a switch on event types. An event the
// registry cannot decode is a poison event. The platform's correction event
// (streams.VoidType) arrives as a streams.Void: a handler that keeps the
// aggregate's version records it like any other event's.
//
// Personal fields arrive opened, or as their zero value when their
// aggregate was forgotten (ev.Forgotten names them): a handler must not
// write a forgotten field. For an event type registered with codec.Forgets,
// Decoding first makes sure the aggregate's key is gone, completing a
// forget whose deletion failed on the writer.
func Decoding(events *codec.Registry, apply func(ctx context.Context, tx *Tx, ev streams.Recorded, event any) error) func(context.Context, *Tx, streams.Recorded) error {
	return func(ctx context.Context, tx *Tx, ev streams.Recorded) error {
		if ev.Type == streams.VoidType {
			// The platform's correction: it voids an earlier event (which
			// the runner skips) and takes the next version of the aggregate.
			var v streams.Void
			if err := json.Unmarshal(ev.Data, &v); err != nil {
				return err
			}
			return apply(ctx, tx, ev, v)
		}
		e, err := events.Decode(ev.Type, ev.Schema, ev.Data)
		if err != nil {
			return err
		}
		if events.Forgets(ev.Type) && tx.personal != nil {
			if err := tx.personal.CompleteForget(ctx, ev.Ref); err != nil {
				return err
			}
		}
		return apply(ctx, tx, ev, e)
	}
}
