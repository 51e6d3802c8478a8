package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/aggregate"
)

// Aggregate is a loaded aggregate: its Ref, state and position.
type Aggregate[S any] struct {
	Ref      Ref
	State    S
	Position Position
	// Forgotten is set once an event that forgets the aggregate (see
	// Model.Forgets) is part of it: its personal data reads as forgotten.
	Forgotten bool
	// at is when the last event folded in was recorded (for snapshots).
	at time.Time
}

// Exists reports whether the aggregate has any event.
func (a Aggregate[S]) Exists() bool { return a.Position.Version > 0 }

// Model tells a Repository how to fold events into a state S.
type Model[S any] struct {
	// Type is the aggregate type.
	Type string
	// Initial returns the state before the first event; nil means S's zero
	// value.
	Initial func() S
	// Apply folds one recorded event into the state.
	Apply func(state S, event Recorded) (S, error)
	// SnapshotEvery takes a snapshot each time the version crosses a multiple
	// of it: 0 means DefaultSnapshotEvery, negative means never.
	SnapshotEvery int
	// StateSchema versions the JSON shape of S in snapshots; a snapshot of
	// another schema is ignored.
	StateSchema int
	// Forgets reports whether an event type forgets the aggregate (nil:
	// none does). A load that meets such an event makes sure the
	// aggregate's key is gone, completing a forget whose deletion failed.
	Forgets func(eventType string) bool
}

// ModelOf adapts an aggregate.Definition: events are decoded with its codec
// registry (upcasting old schemas) and folded with its Evolve.
func ModelOf[S any](d aggregate.Definition[S]) Model[S] {
	return Model[S]{
		Type:    d.Type,
		Initial: d.New,
		Apply: func(s S, r Recorded) (S, error) {
			ev, err := d.Events.Decode(r.Type, r.Schema, r.Data)
			if err != nil {
				return s, fmt.Errorf("%s version %d (sequence %d): %w", r.Ref, r.Version, r.Sequence, err)
			}
			return d.Evolve(s, ev), nil
		},
		SnapshotEvery: d.SnapshotEvery,
		StateSchema:   d.StateSchema,
		Forgets:       d.Events.Forgets,
	}
}

// Repository loads and appends aggregates of one type with state S, taking
// snapshots by the model's rule.
type Repository[S any] struct {
	store *Store
	model Model[S]
	every int
	// shape fingerprints S's JSON form, so a snapshot of a state whose
	// fields changed is ignored even when nobody bumped StateSchema.
	shape string
}

// NewRepository returns a repository of model m on store.
func NewRepository[S any](store *Store, m Model[S]) (*Repository[S], error) {
	if err := aggregate.ValidateType(m.Type); err != nil {
		return nil, fmt.Errorf("streams: repository: %w", err)
	}
	if m.Apply == nil {
		return nil, fmt.Errorf("streams: repository %s: Apply is nil", m.Type)
	}
	every := m.SnapshotEvery
	if every == 0 {
		every = DefaultSnapshotEvery
	}
	return &Repository[S]{store: store, model: m, every: every, shape: shapeOf[S]()}, nil
}

// Ref validates id and returns the Ref of the repository's type.
func (r *Repository[S]) Ref(id string) (Ref, error) { return NewRef(r.model.Type, id) }

func (r *Repository[S]) initial(ref Ref) Aggregate[S] {
	a := Aggregate[S]{Ref: ref}
	if r.model.Initial != nil {
		a.State = r.model.Initial()
	}
	return a
}

// Load returns the aggregate's current state: its latest snapshot, if any,
// then the events after it. An aggregate without events loads with
// Exists() false.
func (r *Repository[S]) Load(ctx context.Context, id string) (Aggregate[S], error) {
	return r.LoadAt(ctx, id, Until{})
}

// LoadAt returns the aggregate as it was at a version or a point in time
// (time travel). A snapshot is used only when it lies within the bound.
func (r *Repository[S]) LoadAt(ctx context.Context, id string, until Until) (Aggregate[S], error) {
	a, _, err := r.Inspect(ctx, id, until, true)
	return a, err
}

// Inspect loads the aggregate as LoadAt does, from its snapshot only when
// useSnapshot is set, and reports the position of the snapshot it started
// from (the zero Position: it replayed every event). It is for operators'
// tools, which show how a state was obtained.
func (r *Repository[S]) Inspect(ctx context.Context, id string, until Until, useSnapshot bool) (Aggregate[S], Position, error) {
	ref, err := r.Ref(id)
	if err != nil {
		return Aggregate[S]{}, Position{}, err
	}
	a := r.initial(ref)
	var from Position
	// The first events are asked for while the snapshot is read: an
	// aggregate without snapshot, the most common, loads in one round trip
	// when it is short. They are dropped when a snapshot serves.
	first := r.store.sendFirstBatch(ctx, ref, 1)
	if useSnapshot {
		if snap, ok := r.snapshot(ctx, ref); ok && !until.reachedSnapshot(snap.position.Version, snap.time) {
			a.State, a.Position, a.at, a.Forgotten = snap.state, snap.position, snap.time, snap.forgotten
			from = snap.position
		}
	}
	forgotten := a.Forgotten
	a, err = r.replay(ctx, a, until, first)
	if err == nil && from != (Position{}) && a.Forgotten && !forgotten {
		// The snapshot holds the state from before the aggregate was
		// forgotten, in plain: it goes too.
		if err := r.store.Forget(ctx, ref); err != nil {
			return Aggregate[S]{}, Position{}, fmt.Errorf("load %s: %w", ref, err)
		}
	}
	return a, from, err
}

// Replay folds the events after a.Position, up to until, into a. When it
// meets an event that forgets the aggregate, it makes sure the aggregate's
// key is gone (see Store.Forget).
func (r *Repository[S]) Replay(ctx context.Context, a Aggregate[S], until Until) (Aggregate[S], error) {
	return r.replay(ctx, a, until, nil)
}

// replay is Replay, starting with first when it reads from a.Position.
func (r *Repository[S]) replay(ctx context.Context, a Aggregate[S], until Until, first *firstBatch) (Aggregate[S], error) {
	forgets := false
	for rec, err := range r.store.read(ctx, a.Ref, a.Position, until, first) {
		if err != nil {
			return Aggregate[S]{}, err
		}
		if rec.Type != VoidType { // a correction moves the position only
			if a.State, err = r.model.Apply(a.State, rec); err != nil {
				return Aggregate[S]{}, fmt.Errorf("load %s: %w", a.Ref, err)
			}
		}
		a.Position, a.at = rec.Position(), rec.Time
		if r.forgets(rec.Type) {
			forgets, a.Forgotten = true, true
		}
	}
	if forgets {
		if err := r.store.CompleteForget(ctx, a.Ref); err != nil {
			return Aggregate[S]{}, fmt.Errorf("load %s: %w", a.Ref, err)
		}
	}
	return a, nil
}

func (r *Repository[S]) forgets(eventType string) bool {
	return r.model.Forgets != nil && r.model.Forgets(eventType)
}

// Append appends events to a at its position and returns the aggregate with
// the events applied. It takes a snapshot when the new version crosses a
// multiple of the snapshot rule; a failed snapshot is logged, never fatal.
func (r *Repository[S]) Append(ctx context.Context, a Aggregate[S], events []Event, opts ...AppendOption) (Aggregate[S], Appended, error) {
	res, err := r.store.Append(ctx, a.Ref, a.Position, events, opts...)
	if err != nil {
		return a, res, err
	}
	next := a
	for _, rec := range res.Events {
		if next.State, err = r.model.Apply(next.State, rec); err != nil {
			// The events are stored: they are facts. The caller reloads.
			return a, res, fmt.Errorf("apply appended events of %s: %w", a.Ref, err)
		}
		next.Forgotten = next.Forgotten || r.forgets(rec.Type)
	}
	next.Position = res.Position
	next.at = res.Events[len(res.Events)-1].Time
	if r.every > 0 && uint64(next.Position.Version)/uint64(r.every) != uint64(a.Position.Version)/uint64(r.every) {
		if err := r.SaveSnapshot(ctx, next); err != nil {
			r.store.log.Warn("snapshot not saved", "aggregate", a.Ref.String(), "version", next.Position.Version, "error", err)
		}
	}
	return next, res, nil
}

// snapshotRecord is the stored form of a snapshot.
type snapshotRecord struct {
	Version     Version         `json:"version"`
	Sequence    Sequence        `json:"sequence"`
	Time        time.Time       `json:"time"`
	StateSchema int             `json:"state_schema"`
	Shape       string          `json:"shape"`
	State       json.RawMessage `json:"state"`
	Forgotten   bool            `json:"forgotten,omitempty"`
}

type snapshot[S any] struct {
	state     S
	position  Position
	time      time.Time
	forgotten bool
}

// reachedSnapshot reports whether a snapshot covers events beyond the bound
// (or, for a time bound, may: one without a time is not used).
func (u Until) reachedSnapshot(v Version, t time.Time) bool {
	return (u.Version != 0 && v > u.Version) || (!u.Time.IsZero() && (t.IsZero() || t.After(u.Time)))
}

// SaveSnapshot stores a's state as the aggregate's snapshot.
func (r *Repository[S]) SaveSnapshot(ctx context.Context, a Aggregate[S]) error {
	state, err := json.Marshal(a.State)
	if err != nil {
		return fmt.Errorf("snapshot %s: encode state: %w", a.Ref, err)
	}
	if !a.Exists() {
		return fmt.Errorf("snapshot %s: the aggregate has no events", a.Ref)
	}
	b, err := json.Marshal(snapshotRecord{
		Version: a.Position.Version, Sequence: a.Position.Sequence, Time: a.at,
		StateSchema: r.model.StateSchema, Shape: r.shape, State: state, Forgotten: a.Forgotten,
	})
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", a.Ref, err)
	}
	ctx, cancel := withTimeout(ctx, r.store.opts.Timeout)
	defer cancel()
	if _, err := r.store.snapshots.Put(ctx, a.Ref.Key(), b); err != nil {
		return fmt.Errorf("snapshot %s: %w", a.Ref, classify(err))
	}
	return nil
}

// snapshot reads the aggregate's snapshot. Any problem (none stored, not
// decodable, another state schema, unreachable) means "no snapshot": a
// snapshot is an optimisation and never changes a result.
func (r *Repository[S]) snapshot(ctx context.Context, ref Ref) (snapshot[S], bool) {
	ctx, cancel := withTimeout(ctx, r.store.opts.Timeout)
	defer cancel()
	entry, err := r.store.snapshots.Get(ctx, ref.Key())
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			r.store.log.Warn("snapshot not read; replaying from the start", "aggregate", ref.String(), "error", err)
		}
		return snapshot[S]{}, false
	}
	var rec snapshotRecord
	var s snapshot[S]
	if err := json.Unmarshal(entry.Value(), &rec); err != nil {
		r.store.log.Warn("snapshot cannot be decoded; replaying from the start", "aggregate", ref.String(), "error", err)
		return snapshot[S]{}, false
	}
	if rec.StateSchema != r.model.StateSchema || rec.Shape != r.shape {
		r.store.log.Warn("snapshot has another state schema or shape; replaying from the start", "aggregate", ref.String(),
			"snapshot_schema", rec.StateSchema, "schema", r.model.StateSchema)
		return snapshot[S]{}, false
	}
	if rec.Version == 0 || rec.Sequence == 0 {
		r.store.log.Warn("snapshot has no position; replaying from the start", "aggregate", ref.String())
		return snapshot[S]{}, false
	}
	if r.model.Initial != nil {
		s.state = r.model.Initial()
	}
	if err := json.Unmarshal(rec.State, &s.state); err != nil {
		r.store.log.Warn("snapshot state cannot be decoded; replaying from the start", "aggregate", ref.String(), "error", err)
		return snapshot[S]{}, false
	}
	s.position = Position{Version: rec.Version, Sequence: rec.Sequence}
	s.time, s.forgotten = rec.Time, rec.Forgotten
	return s, true
}
