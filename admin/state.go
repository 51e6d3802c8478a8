package admin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jetsource/jetsource/aggregate"
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

// Aggregates maps each aggregate type to its Loader.
type Aggregates map[string]Loader

// Types lists the registered types, sorted.
func (a Aggregates) Types() []string { return slices.Sorted(maps.Keys(a)) }

// State replays aggregate typ/id (see Loader).
func (c *Client) State(ctx context.Context, typ, id string, until streams.Until, useSnapshot bool) (State, error) {
	load, ok := c.Aggregates[typ]
	if !ok {
		return State{}, fmt.Errorf("%w %q (registered: %s)", ErrUnknownType, typ, strings.Join(c.Aggregates.Types(), ", "))
	}
	if _, err := streams.NewRef(typ, id); err != nil {
		return State{}, err
	}
	return load(ctx, c.Store, id, until, useSnapshot)
}
