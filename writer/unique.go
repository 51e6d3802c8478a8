package writer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/streams"
)

// reserveAttempts bounds how often a reservation is tried again when the key
// changes hands while it is being reserved (released, or taken over by
// another writer).
const reserveAttempts = 5

// holding is the value of a UNIQUE bucket entry: the aggregate that holds
// the key and the command that reserved it for that aggregate, named by the
// id prefix of its events ("<prefix>-0" is the first) and the position it
// was decided on. Whether that command stored its events tells a key that is
// used from one whose command never appended (a writer that stopped between
// reserving and appending, or an append that failed).
//
// Entries written before the command was recorded hold the bare aggregate id.
type holding struct {
	AggregateID string `json:"aggregate_id"`
	Events      string `json:"events,omitempty"`
	Version     uint64 `json:"version,omitempty"`
	Sequence    uint64 `json:"sequence,omitempty"`
}

func parseHolding(b []byte) holding {
	var h holding
	if json.Unmarshal(b, &h) != nil || h.AggregateID == "" {
		return holding{AggregateID: string(b)}
	}
	return h
}

// reservation is a unique key held for a command of an aggregate.
type reservation struct {
	typ, key, name string
	holding        holding
	revision       uint64
	// own is set when this attempt created the entry (or took it over) and
	// so gives it back when its append stores nothing. A twin of the command
	// (the same command_id) shares the entry without owning it.
	own bool
}

// uniqueKey is the UNIQUE bucket key of a unique key of aggregate type typ:
// <type>.<base64url(key)>, so that any key (dots, wildcards, spaces) is a
// valid key-value key of one token after the type.
func uniqueKey(typ, key string) string {
	return typ + "." + base64.RawURLEncoding.EncodeToString([]byte(key))
}

// errReservationLost marks a reservation that was taken over or released
// while its command was deciding: its command must not append with it.
var errReservationLost = errors.New("unique key reservation lost")

// unavailable wraps a store error met while reserving: 503, never "taken",
// since what the bucket or stream holds could not be read.
func unavailable(what string, err error) error {
	return fmt.Errorf("%s: %w: %w", what, streams.ErrUnavailable, err)
}

// forgotten reports whether the aggregate that holds a unique key was
// forgotten: its key is free again (its forget released it, or would have
// but for a failure).
func (w *Writer) forgotten(ctx context.Context, typ, id string) (bool, error) {
	rt, ok := w.routes[typ]
	if !ok {
		return false, nil
	}
	return rt.forgotten(ctx, id)
}

// giveBack releases key of aggregate id of type typ, given back by events
// it stored (a forget), unless another aggregate holds it by now. A
// failure is logged: a key held by a forgotten aggregate is taken over by
// the next aggregate that claims it (see reserve).
func (w *Writer) giveBack(ctx context.Context, typ, key, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.Timeout)
	defer cancel()
	name := uniqueKey(typ, key)
	entry, err := w.unique.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return
	}
	if err == nil && parseHolding(entry.Value()).AggregateID == id {
		// A purge, not a delete: no revision that names the holder stays.
		err = w.unique.Purge(ctx, name, jetstream.LastRevision(entry.Revision()))
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		w.log.Warn("unique key given back by a forgotten aggregate not released; the next claimant takes it over",
			"type", typ, "aggregate", id, "error", err)
	}
}

// reserve claims key for the command (its events' id prefix, decided at
// pos) on aggregate id of type typ, with create-only semantics, so that of
// two aggregates racing for it exactly one wins. An entry of a twin of this
// command is shared. An entry older than the stale-reservation age whose
// command never stored its events, or held by an aggregate that was
// forgotten, is taken over, conditionally on its
// revision, so that of two writers taking it over one wins and its old
// holder's fence (confirm) fails. Store errors are 503, a key held by
// another aggregate 409.
func (w *Writer) reserve(ctx context.Context, typ, key, id, events string, pos streams.Position) (*reservation, error) {
	name := uniqueKey(typ, key)
	mine := holding{AggregateID: id, Events: events, Version: uint64(pos.Version), Sequence: uint64(pos.Sequence)}
	value, err := json.Marshal(mine)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("reserve unique %s key", typ)
	for range reserveAttempts {
		rev, err := w.unique.Create(ctx, name, value)
		if err == nil {
			return &reservation{typ: typ, key: key, name: name, holding: mine, revision: rev, own: true}, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, unavailable(what, err)
		}
		entry, err := w.unique.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, unavailable(what, err)
		}
		held := parseHolding(entry.Value())
		if held.AggregateID == id && held.Events == events || held.AggregateID == id && held.Events == "" {
			return &reservation{typ: typ, key: key, name: name, holding: held, revision: entry.Revision()}, nil
		}
		taken := conflict("%q is already taken by another %s", key, typ)
		forgotten, err := w.forgotten(ctx, typ, held.AggregateID)
		if err != nil {
			return nil, unavailable(what, err)
		}
		if !forgotten {
			if time.Since(entry.Created()) < w.opts.StaleReservation {
				return nil, taken
			}
			used, err := w.used(ctx, typ, held)
			if err != nil {
				return nil, unavailable(what, err)
			}
			if used {
				return nil, taken
			}
		}
		rev, err = w.unique.Update(ctx, name, value, entry.Revision())
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue // another writer changed it first
		}
		if err != nil {
			return nil, unavailable(what, err)
		}
		w.log.Warn("took over a unique key reservation that was stale or held by a forgotten aggregate", "type", typ, "from", held.AggregateID, "to", id)
		return &reservation{typ: typ, key: key, name: name, holding: mine, revision: rev, own: true}, nil
	}
	return nil, &RequestError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
		Message: fmt.Sprintf("the unique %s key kept changing hands while it was reserved; nothing was done, send the command again", typ)}
}

// claim returns the reservation of key (empty: none) for an attempt of a
// command about to append, given held, the one an earlier attempt of it
// reserved. A held reservation is confirmed (the fence); one lost meanwhile,
// or of another key, is replaced by a new reservation.
func (w *Writer) claim(ctx context.Context, held *reservation, typ, key, id, events string, pos streams.Position) (*reservation, error) {
	if held != nil && held.key != key {
		w.release(ctx, held)
		held = nil
	}
	if key == "" {
		return nil, nil
	}
	if held == nil {
		return w.reserve(ctx, typ, key, id, events, pos)
	}
	err := w.confirm(ctx, held)
	if errors.Is(err, errReservationLost) {
		w.log.Warn("unique key reservation lost while deciding; reserving it again", "type", typ, "aggregate", id)
		return w.reserve(ctx, typ, key, id, events, pos)
	}
	return held, err
}

// confirm is the fence of a reservation, checked right before appending with
// it: the entry must still be the one reserved (same revision). A holder that
// paused past the stale-reservation age and was taken over learns it here
// and does not append.
func (w *Writer) confirm(ctx context.Context, r *reservation) error {
	entry, err := w.unique.Get(ctx, r.name)
	if errors.Is(err, jetstream.ErrKeyNotFound) || err == nil && entry.Revision() != r.revision {
		return errReservationLost
	}
	if err != nil {
		return unavailable(fmt.Sprintf("confirm unique %s key", r.typ), err)
	}
	return nil
}

// used reports whether the command that reserved a key stored its events:
// an event with its first event id on the holder after the position it was
// decided on. For entries that do not name their command, whether the
// holder exists at all.
func (w *Writer) used(ctx context.Context, typ string, h holding) (bool, error) {
	ref, err := streams.NewRef(typ, h.AggregateID)
	if err != nil {
		return false, nil // no aggregate can hold it
	}
	if h.Events == "" {
		head, err := w.store.Head(ctx, ref)
		return head.Version > 0, err
	}
	first := h.Events + "-0"
	from := streams.Position{Version: streams.Version(h.Version), Sequence: streams.Sequence(h.Sequence)}
	for rec, err := range w.store.Read(ctx, ref, from, streams.Until{}) {
		if err != nil {
			return false, err
		}
		if rec.ID == first {
			return true, nil
		}
	}
	return false, nil
}

// release gives back a reservation this attempt owns, unless its command's
// events were stored after all (a twin of the command stored them). When
// that cannot be read the entry stays, and ages into a stale reservation
// that the next claimant takes over.
func (w *Writer) release(ctx context.Context, r *reservation) {
	if !r.own {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.Timeout)
	defer cancel()
	used, err := w.used(ctx, r.typ, r.holding)
	if err == nil && !used {
		err = w.unique.Delete(ctx, r.name, jetstream.LastRevision(r.revision))
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		w.log.Warn("unique key not released; it is taken over once stale", "type", r.typ, "aggregate", r.holding.AggregateID, "error", err)
	}
}

// releaseOrphan gives back key if an earlier attempt of this command
// (events prefix) reserved it for aggregate id and then died before
// appending: the command is refused now, so that reservation would hold
// the key for an aggregate that never took it.
func (w *Writer) releaseOrphan(ctx context.Context, typ, key, id, events string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.Timeout)
	defer cancel()
	name := uniqueKey(typ, key)
	entry, err := w.unique.Get(ctx, name)
	if err != nil {
		return // none, or unreadable: a later claimant takes a stale one over
	}
	h := parseHolding(entry.Value())
	if h.AggregateID != id || h.Events != events {
		return
	}
	if used, err := w.used(ctx, typ, h); err != nil || used {
		return
	}
	if err := w.unique.Delete(ctx, name, jetstream.LastRevision(entry.Revision())); err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		w.log.Warn("orphaned unique key not released; it is taken over once stale", "type", typ, "aggregate", id, "error", err)
	}
}
