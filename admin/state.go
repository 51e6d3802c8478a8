package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/codec"
	"github.com/jetsource/jetsource/streams"
)

// ErrUnknownType means no registered aggregate has the type.
var ErrUnknownType = errors.New("unknown aggregate type")

// State is an aggregate's state, replayed.
type State struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	// Exists is false for an aggregate without events (within the bound).
	Exists   bool   `json:"exists"`
	Version  uint64 `json:"version"`
	Sequence uint64 `json:"sequence"`
	// FromSnapshot reports that the replay started from a snapshot, the
	// one at SnapshotVersion.
	FromSnapshot    bool   `json:"from_snapshot"`
	SnapshotVersion uint64 `json:"snapshot_version,omitempty"`
	// Forgotten is set once the aggregate's personal data was forgotten.
	Forgotten bool `json:"forgotten,omitempty"`
	// State is the aggregate's state value, as its type encodes to JSON.
	State any `json:"state"`
}

// Loader replays the state of aggregate id of one type from store, up to
// until, from its snapshot when useSnapshot is set and one lies within the
// bound.
type Loader func(ctx context.Context, store *streams.Store, id string, until streams.Until, useSnapshot bool) (State, error)

// LoaderOf is the Loader of an aggregate definition: the same model the
// writer loads with (its codec, upcasters, Evolve and snapshots).
func LoaderOf[S any](def aggregate.Definition[S]) Loader {
	return func(ctx context.Context, store *streams.Store, id string, until streams.Until, useSnapshot bool) (State, error) {
		repo, err := streams.NewRepository(store, streams.ModelOf(def))
		if err != nil {
			return State{}, err
		}
		a, snap, err := repo.Inspect(ctx, id, until, useSnapshot)
		if err != nil {
			return State{}, err
		}
		return State{
			Type: def.Type, ID: id, Exists: a.Exists(), Version: uint64(a.Position.Version), Sequence: uint64(a.Position.Sequence),
			FromSnapshot: snap.Version > 0, SnapshotVersion: uint64(snap.Version), Forgotten: a.Forgotten, State: a.State,
		}, nil
	}
}

// Aggregate is what operators' tools know of one aggregate type: how to
// replay its state, and its event types (whose secret fields they redact).
type Aggregate struct {
	Load   Loader
	Events *codec.Registry
}

// AggregateOf is the Aggregate of a definition.
func AggregateOf[S any](def aggregate.Definition[S]) Aggregate {
	return Aggregate{Load: LoaderOf(def), Events: def.Events}
}

// Aggregates maps each aggregate type to what operators' tools know of it.
type Aggregates map[string]Aggregate

// Types lists the registered types, sorted.
func (a Aggregates) Types() []string { return slices.Sorted(maps.Keys(a)) }

// secret is the secret fields of event type eventType of aggregate type typ
// (codec.WithSecret); an unknown event type has none.
func (a Aggregates) secret(typ, eventType string) []string {
	if agg, ok := a[typ]; ok && agg.Events != nil {
		return agg.Events.Secret(eventType)
	}
	return nil
}

// State replays aggregate typ/id (see Loader).
func (c *Client) State(ctx context.Context, typ, id string, until streams.Until, useSnapshot bool) (State, error) {
	agg, ok := c.Aggregates[typ]
	if !ok {
		return State{}, fmt.Errorf("%w %q (registered: %s)", ErrUnknownType, typ, strings.Join(c.Aggregates.Types(), ", "))
	}
	if _, err := streams.NewRef(typ, id); err != nil {
		return State{}, err
	}
	st, err := agg.Load(ctx, c.Store, id, until, useSnapshot)
	if err != nil || agg.Events == nil {
		return st, err
	}
	if secrets := agg.Events.Secrets(); len(secrets) > 0 {
		b, err := json.Marshal(st.State)
		if err != nil {
			return State{}, fmt.Errorf("state of %s.%s: %w", typ, id, err)
		}
		st.State = Redact(b, secrets)
	}
	return st, nil
}

// Redacted is what operators' tools show in place of a secret field.
const Redacted = "[redacted]"

// Redact replaces the values of the top-level fields of a JSON object that
// are named in fields with Redacted (null stays null: a forgotten field
// holds nothing). Anything but an object is returned as it is.
func Redact(payload json.RawMessage, fields []string) json.RawMessage {
	if len(fields) == 0 {
		return payload
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(payload, &obj) != nil || obj == nil {
		return payload
	}
	changed := false
	for _, f := range fields {
		if v, ok := obj[f]; ok && string(v) != "null" {
			obj[f] = json.RawMessage(`"` + Redacted + `"`)
			changed = true
		}
	}
	if !changed {
		return payload
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return payload
	}
	return b
}
