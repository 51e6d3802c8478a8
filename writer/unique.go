package writer

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/streams"
)

// reservation is a unique key this writer reserved for an aggregate.
type reservation struct {
	typ, key, name, id string
	revision           uint64
}

// uniqueKey is the UNIQUE bucket key of a unique key of aggregate type typ:
// <type>.<base64url(key)>, so that any key (dots, wildcards, spaces) is a
// valid key-value key of one token after the type.
func uniqueKey(typ, key string) string {
	return typ + "." + base64.RawURLEncoding.EncodeToString([]byte(key))
}

// reserve claims key for aggregate id of type typ with create-only
// semantics, so that of two aggregates racing for it exactly one wins. A
// reservation the same aggregate holds already (an earlier attempt) is
// fine and returns nil: it is not this attempt's to release. A reservation
// of another aggregate that was never created and is older than
// staleReservation (its writer died before appending) is taken over.
func (w *Writer) reserve(ctx context.Context, typ, key, id string) (*reservation, error) {
	name := uniqueKey(typ, key)
	rev, err := w.unique.Create(ctx, name, []byte(id))
	if err == nil {
		return &reservation{typ: typ, key: key, name: name, id: id, revision: rev}, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("reserve unique %s key: %w: %w", typ, streams.ErrUnavailable, err)
	}
	entry, err := w.unique.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		// Released between our create and get: the caller retries.
		return nil, fmt.Errorf("reserve unique %s key: %w: released while reserving", typ, streams.ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("reserve unique %s key: %w: %w", typ, streams.ErrUnavailable, err)
	}
	holder := string(entry.Value())
	if holder == id {
		return nil, nil
	}
	taken := conflict("%q is already taken by another %s", key, typ)
	if time.Since(entry.Created()) < staleReservation {
		return nil, taken
	}
	ref, err := streams.NewRef(typ, holder)
	if err != nil {
		return nil, taken
	}
	if head, err := w.store.Head(ctx, ref); err != nil || head.Version > 0 {
		return nil, taken
	}
	rev, err = w.unique.Update(ctx, name, []byte(id), entry.Revision())
	if err != nil {
		return nil, taken
	}
	w.log.Warn("took over a stale unique key reservation", "type", typ, "from", holder, "to", id)
	return &reservation{typ: typ, key: key, name: name, id: id, revision: rev}, nil
}

// release gives back a reservation whose append stored nothing, unless the
// aggregate exists after all (a twin of the command created it).
func (w *Writer) release(ctx context.Context, r *reservation) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.Timeout)
	defer cancel()
	ref, err := streams.NewRef(r.typ, r.id)
	if err != nil {
		return
	}
	if head, err := w.store.Head(ctx, ref); err != nil || head.Version > 0 {
		return
	}
	if err := w.unique.Delete(ctx, r.name, jetstream.LastRevision(r.revision)); err != nil {
		w.log.Warn("unique key not released", "type", r.typ, "aggregate", r.id, "error", err)
	}
}
