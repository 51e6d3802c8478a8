package writer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/streams"
)

// commandRecord is what the COMMANDS bucket keeps per command_id.
type commandRecord struct {
	Type        string `json:"type"`
	Command     string `json:"command"`
	AggregateID string `json:"aggregate_id"`
	Reply       Reply  `json:"reply"`
}

// handle runs one command: idempotency first, then the aggregate's route.
func (w *Writer) handle(ctx context.Context, cache *aggCache, j job) (Reply, error) {
	cid := j.request.CommandID
	if cid != "" {
		if reply, found, err := w.recorded(ctx, j, cid); err != nil || found {
			return reply, err
		}
	}
	reply, err := j.route.execute(ctx, w, cache, j.command, j.request)
	if errors.Is(err, streams.ErrDuplicate) && cid != "" {
		// The events of this command_id were stored before (a concurrent
		// twin, or a crash before the reply was kept): answer as the first
		// attempt did.
		reply, err = w.replyFromStore(ctx, j, cid)
	}
	if err != nil {
		return Reply{}, err
	}
	if cid != "" {
		w.keep(ctx, j, cid, reply)
	}
	return reply, nil
}

// recorded returns the kept reply of command_id, if any.
func (w *Writer) recorded(ctx context.Context, j job, cid string) (Reply, bool, error) {
	entry, err := w.commands.Get(ctx, cid)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Reply{}, false, nil
	}
	if err != nil {
		return Reply{}, false, fmt.Errorf("look up command_id: %w: %w", streams.ErrUnavailable, err)
	}
	var rec commandRecord
	if err := json.Unmarshal(entry.Value(), &rec); err != nil {
		return Reply{}, false, fmt.Errorf("command_id %s: kept reply is corrupt: %w", cid, err)
	}
	if rec.Type != j.typ || rec.Command != j.command || rec.AggregateID != j.request.AggregateID {
		return Reply{}, false, conflict("command_id %s was already used for %s.%s on %s/%s; use a new command_id for a new command",
			cid, rec.Type, rec.Command, rec.Type, rec.AggregateID)
	}
	return rec.Reply, true, nil
}

// keep stores the reply of command_id. A failure is logged, not returned:
// the events are stored, and a retry is still deduplicated by the event ids
// within the duplicate window.
func (w *Writer) keep(ctx context.Context, j job, cid string, reply Reply) {
	b, err := json.Marshal(commandRecord{Type: j.typ, Command: j.command, AggregateID: j.request.AggregateID, Reply: reply})
	if err == nil {
		_, err = w.commands.Put(ctx, cid, b)
	}
	if err != nil {
		w.log.Warn("command reply not kept", "command_id", cid, "error", err)
	}
}

// replyFromStore rebuilds the first reply of command_id from its stored
// events.
func (w *Writer) replyFromStore(ctx context.Context, j job, cid string) (Reply, error) {
	ref, err := streams.NewRef(j.typ, j.request.AggregateID)
	if err != nil {
		return Reply{}, err
	}
	events, err := w.store.CommandEvents(ctx, ref, cid)
	if err != nil {
		return Reply{}, err
	}
	if len(events) == 0 {
		return Reply{}, fmt.Errorf("command_id %s: events refused as duplicates but not found on %s", cid, ref)
	}
	return replyOf(j.request.AggregateID, events[len(events)-1].Position(), events), nil
}

func replyOf(id string, pos streams.Position, events []streams.Recorded) Reply {
	r := Reply{AggregateID: id, Version: uint64(pos.Version), Sequence: uint64(pos.Sequence), Events: make([]ReplyEvent, len(events))}
	for i, e := range events {
		r.Events[i] = ReplyEvent{Type: e.Type, Version: uint64(e.Version), Sequence: uint64(e.Sequence)}
	}
	return r
}

// typedRoute is the route of an aggregate with state S.
type typedRoute[S any] struct {
	def  aggregate.Definition[S]
	repo *streams.Repository[S]
}

// Register adds an aggregate type and its commands to the writer.
func Register[S any](w *Writer, def aggregate.Definition[S]) error {
	if err := def.Validate(); err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	if _, dup := w.routes[def.Type]; dup {
		return fmt.Errorf("writer: aggregate type %s registered twice", def.Type)
	}
	repo, err := streams.NewRepository(w.store, streams.ModelOf(def))
	if err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	w.routes[def.Type] = &typedRoute[S]{def: def, repo: repo}
	return nil
}

func (r *typedRoute[S]) commandNames() []string {
	names := make([]string, 0, len(r.def.Commands))
	for n := range r.def.Commands {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (r *typedRoute[S]) load(ctx context.Context, cache *aggCache, id string, fresh bool) (streams.Aggregate[S], error) {
	key := r.def.Type + "/" + id
	if !fresh {
		if a, ok := cache.get(key); ok {
			return a.(streams.Aggregate[S]), nil
		}
	}
	a, err := r.repo.Load(ctx, id)
	if err != nil {
		return a, err
	}
	cache.put(key, a)
	return a, nil
}

func (r *typedRoute[S]) execute(ctx context.Context, w *Writer, cache *aggCache, command string, req Request) (Reply, error) {
	key := r.def.Type + "/" + req.AggregateID
	fresh := false
	for attempt := 0; ; attempt++ {
		agg, err := r.load(ctx, cache, req.AggregateID, fresh)
		if err != nil {
			return Reply{}, err
		}
		if req.ExpectedVersion != nil && *req.ExpectedVersion != agg.Position.Version {
			if !fresh {
				// The cache may lag behind another writer: check the store.
				fresh = true
				attempt--
				continue
			}
			return Reply{}, conflict("%s/%s is at version %d, expected_version was %d",
				r.def.Type, req.AggregateID, agg.Position.Version, *req.ExpectedVersion)
		}
		decision, err := r.def.Decide(command, agg.State, agg.Exists(), req.Data)
		if err != nil {
			if !fresh && (errors.Is(err, aggregate.ErrNotFound) || errors.Is(err, aggregate.ErrExists) || errors.Is(err, aggregate.ErrRejected)) {
				// A refusal decided on a cached state is checked on a fresh one.
				if _, cached := cache.get(key); cached {
					fresh = true
					attempt--
					continue
				}
			}
			return Reply{}, err
		}
		if len(decision.Events) == 0 {
			return replyOf(req.AggregateID, agg.Position, nil), nil
		}
		events, err := r.encode(decision.Events, req.CommandID)
		if err != nil {
			return Reply{}, err
		}
		var release func()
		if decision.Unique != "" {
			if release, err = w.reserve(ctx, r.def.Type, decision.Unique, req.AggregateID); err != nil {
				return Reply{}, err
			}
		}
		next, appended, err := r.repo.Append(ctx, agg, events, streams.WithCommandID(req.CommandID))
		if err == nil {
			cache.put(key, next)
			w.metrics.events.WithLabelValues(r.def.Type).Add(float64(len(appended.Events)))
			return replyOf(req.AggregateID, appended.Position, appended.Events), nil
		}
		cache.drop(key)
		if release != nil && !errors.Is(err, streams.ErrDuplicate) {
			release()
		}
		if !errors.Is(err, streams.ErrConflict) {
			return Reply{}, err
		}
		if req.ExpectedVersion != nil {
			return Reply{}, conflict("%s/%s changed while the command ran: expected_version was %d",
				r.def.Type, req.AggregateID, *req.ExpectedVersion)
		}
		if attempt >= w.opts.MaxRetries {
			return Reply{}, conflict("%s/%s is being changed by other writers: gave up after %d retries", r.def.Type, req.AggregateID, attempt)
		}
		w.metrics.conflicts.WithLabelValues(r.def.Type).Inc()
		fresh = true
		if err := backoff(ctx, attempt+1); err != nil {
			return Reply{}, fmt.Errorf("%w: %w", streams.ErrUnavailable, err)
		}
	}
}

func (r *typedRoute[S]) encode(decided []any, commandID string) ([]streams.Event, error) {
	events := make([]streams.Event, len(decided))
	for i, e := range decided {
		enc, err := r.def.Events.Encode(e)
		if err != nil {
			return nil, err
		}
		events[i] = streams.Event{Type: enc.Type, Schema: enc.Schema, Data: enc.Data}
		if commandID != "" {
			events[i].ID = commandID + "-" + strconv.Itoa(i)
		}
	}
	return events, nil
}

// reserve claims key for aggregate id of typ, race-free (create-only). It
// returns a release function for when the append then fails.
func (w *Writer) reserve(ctx context.Context, typ, key, id string) (func(), error) {
	name := typ + "." + base64.RawURLEncoding.EncodeToString([]byte(key))
	rev, err := w.unique.Create(ctx, name, []byte(id))
	if errors.Is(err, jetstream.ErrKeyExists) {
		entry, gerr := w.unique.Get(ctx, name)
		if gerr != nil {
			return nil, fmt.Errorf("%w: unique key: %w", streams.ErrUnavailable, gerr)
		}
		if string(entry.Value()) != id {
			return nil, conflict("%q is already taken by another %s", key, typ)
		}
		// Reserved by an earlier attempt for this very aggregate.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: unique key: %w", streams.ErrUnavailable, err)
	}
	return func() {
		// Release only if the aggregate was not created after all (a twin
		// attempt for the same id may have succeeded).
		ref, rerr := streams.NewRef(typ, id)
		if rerr != nil {
			return
		}
		head, herr := w.store.Head(ctx, ref)
		if herr != nil || head.Version > 0 {
			return
		}
		if derr := w.unique.Delete(ctx, name, jetstream.LastRevision(rev)); derr != nil {
			w.log.Warn("unique key not released", "type", typ, "error", derr)
		}
	}, nil
}
