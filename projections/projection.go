package projections

import (
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/jetsource/jetsource/streams"
)

// Projection turns events into a Redis read model.
type Projection struct {
	// Name names the projection and its keys: [a-z][a-z0-9_]*.
	Name string
	// Subjects are the event subjects it follows, e.g. events.account.>.
	Subjects []string
	// Apply queues the writes of one event on tx, with every key under
	// prefix (the generation's prefix, ending in ':'). It must only write,
	// never read: the writes run in one MULTI/EXEC with the checkpoint. An
	// error means the event cannot be applied (a poison event).
	Apply func(tx redis.Pipeliner, prefix string, ev streams.Recorded) error
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
