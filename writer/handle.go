package writer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/tracing"
)

// unsureRetries bounds how often an append whose outcome is unknown (the
// store timed out) is sent again with the same event ids to learn it.
const unsureRetries = 3

// staleLoads bounds how often a load found behind the stream's leader (a
// replica that had not caught up) is loaded again before the answer is 503.
const staleLoads = 3

// handle runs one command: a command_id already answered gets its first
// reply; otherwise the aggregate's route decides and appends.
func (w *Writer) handle(ctx context.Context, cache *aggCache, j *job) (Reply, error) {
	cid := j.request.CommandID
	if cid == "" {
		return j.route.execute(ctx, cache, j)
	}
	claim, kept, err := w.claimCommand(ctx, j)
	if err != nil {
		return Reply{}, err
	}
	if kept != nil {
		return kept.outcome()
	}
	reply, err := j.route.execute(ctx, cache, j)
	if storedNothing(reply, err) {
		// A twin of this command (the same command_id, on any writer) may
		// have stored its events since the reply was looked up: it is the
		// first attempt, and its answer is the answer. A refusal or a no-op
		// decided now, on the state after it, would not be.
		first, found, ferr := w.firstReply(ctx, j)
		switch {
		case ferr != nil:
			return Reply{}, fmt.Errorf("command_id %s: look for the events of a first attempt: %w", cid, ferr)
		case found:
			reply, err = first, nil
		case errors.Is(err, streams.ErrDuplicate):
			// Its event ids are stored, but not on this aggregate.
			err = conflict("command_id %s was already used for another command or aggregate; use a new command_id for a new command", cid)
		}
	}
	w.settleCommand(ctx, j, claim, reply, err)
	if err != nil {
		return Reply{}, err
	}
	return reply, nil
}

// storedNothing reports whether a command's outcome leaves its events
// unstored by this attempt: a refusal (404, 409, 422), a duplicate, or a
// decision with no events.
func storedNothing(reply Reply, err error) bool {
	if err == nil {
		return len(reply.Events) == 0
	}
	if errors.Is(err, streams.ErrDuplicate) {
		return true
	}
	re, internal := classify(err)
	return !internal && (re.Status == http.StatusNotFound || re.Status == http.StatusConflict || re.Status == http.StatusUnprocessableEntity)
}

// Register adds an aggregate type and its commands to the writer: each
// command becomes the endpoint cmd.<type>.<command>. Register before Serve.
func Register[S any](w *Writer, def aggregate.Definition[S]) error {
	if err := def.Validate(); err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	if w.serving.Load() {
		return fmt.Errorf("writer: register %s: the writer is already serving", def.Type)
	}
	if _, dup := w.routes[def.Type]; dup {
		return fmt.Errorf("writer: aggregate type %s registered twice", def.Type)
	}
	if _, err := w.store.StreamOf(def.Type); err != nil {
		return fmt.Errorf("writer: register %s: %w", def.Type, err)
	}
	rt := &typedRoute[S]{w: w, def: def, decided: map[*byte]decidedEvent{}}
	repo, err := streams.NewRepository(w.store, rt.model())
	if err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	rt.repo = repo
	w.routes[def.Type] = rt
	return nil
}

// typedRoute is the route of an aggregate with state S.
type typedRoute[S any] struct {
	w    *Writer
	def  aggregate.Definition[S]
	repo *streams.Repository[S]

	// decided holds, while their append runs, the decided events that
	// decode back from their payloads to equal values (see
	// codec.Encoded.RoundTrips), by the first byte of their payload: the
	// repository folds the events it has just appended into the cached
	// state from these instead of decoding the payloads again (see model).
	// A payload is the one encoded for its append alone, so nothing else
	// the repository folds, such as an event loaded from the stream, can
	// share its first byte.
	mu      sync.Mutex
	decided map[*byte]decidedEvent
}

// decidedEvent is a decided event and the length of its payload.
type decidedEvent struct {
	size  int
	value any
}

// model is the route's model for its repository: that of streams.ModelOf,
// whose fold of an event that is held in decided evolves the state with
// the decided value, which its payload decodes back to.
func (r *typedRoute[S]) model() streams.Model[S] {
	m := streams.ModelOf(r.def)
	decode := m.Apply
	m.Apply = func(s S, rec streams.Recorded) (S, error) {
		if len(rec.Data) > 0 {
			r.mu.Lock()
			d, ok := r.decided[unsafe.SliceData(rec.Data)]
			r.mu.Unlock()
			if ok && d.size == len(rec.Data) {
				return r.def.Evolve(s, d.value), nil
			}
		}
		return decode(s, rec)
	}
	return m
}

// appendDecided is appendSure of events, encoded from decided, which are
// held for the fold of the appended events (see decided) while it runs.
func (r *typedRoute[S]) appendDecided(ctx context.Context, agg streams.Aggregate[S], decided []any, events []streams.Event,
	roundTrips []bool, req Request, last time.Time) (streams.Aggregate[S], streams.Appended, error) {
	r.hold(decided, events, roundTrips)
	defer r.unhold(events) // a panic in Evolve leaves nothing held
	return r.appendSure(ctx, agg, events, req, last)
}

// hold puts the decided events whose payloads decode back to them in
// decided, for the time of their append, until unhold.
func (r *typedRoute[S]) hold(decided []any, events []streams.Event, roundTrips []bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range events {
		if roundTrips[i] && len(e.Data) > 0 {
			r.decided[unsafe.SliceData(e.Data)] = decidedEvent{size: len(e.Data), value: decided[i]}
		}
	}
}

// unhold takes the events of an append that ended out of decided.
func (r *typedRoute[S]) unhold(events []streams.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range events {
		if len(e.Data) > 0 {
			delete(r.decided, unsafe.SliceData(e.Data))
		}
	}
}

func (r *typedRoute[S]) commandNames() []string {
	names := make([]string, 0, len(r.def.Commands))
	for n := range r.def.Commands {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (r *typedRoute[S]) forgotten(ctx context.Context, id string) (bool, error) {
	a, err := r.repo.Load(ctx, id)
	if errors.Is(err, streams.ErrInvalidRef) {
		return false, nil // no aggregate can hold it
	}
	return a.Forgotten, err
}

// load returns the aggregate from the worker's cache, or from the store when
// fresh is set or it is not cached.
func (r *typedRoute[S]) load(ctx context.Context, cache *aggCache, key, id string, fresh bool) (streams.Aggregate[S], bool, error) {
	if !fresh {
		if a, ok := cache.get(key); ok {
			return *a.(*streams.Aggregate[S]), true, nil
		}
	}
	a, err := r.repo.Load(ctx, id)
	if err != nil {
		return a, false, err
	}
	r.remember(cache, key, a)
	return a, false, nil
}

// remember puts a in the worker's cache. The cache holds a pointer per
// aggregate, overwritten in place: a new state of a cached aggregate costs
// no allocation. Nothing else holds the pointer (load returns copies).
func (r *typedRoute[S]) remember(cache *aggCache, key string, a streams.Aggregate[S]) {
	if held, ok := cache.get(key); ok {
		*held.(*streams.Aggregate[S]) = a
		return
	}
	cache.put(key, &a)
}

// execute loads, decides and appends, retrying on concurrency conflicts when
// the client gave no expected_version.
func (r *typedRoute[S]) execute(ctx context.Context, cache *aggCache, j *job) (reply Reply, err error) {
	w, req, typ, key := r.w, j.request, r.def.Type, j.key
	// The event ids of every attempt of this command share one prefix, so
	// that a unique key's entry names the command that reserved it.
	prefix := req.CommandID
	if prefix == "" {
		prefix = "w" + nuid.Next()
	}
	var held *reservation
	defer func() {
		// A unique key reserved for an append that did not store it is
		// given back; one whose append's outcome is unknown stays, and is
		// taken over once stale if the append stored nothing.
		if held != nil && err != nil && !errors.Is(err, errOutcomeUnknown) {
			w.release(ctx, held)
		}
	}()
	fresh := false
	stale := 0
	// current confirms, before an answer that appends nothing (a refusal, a
	// no-op), that agg is the aggregate as the stream's leader has it: a
	// load may be served by a replica a little behind it.
	current := func(agg streams.Aggregate[S]) (bool, error) {
		seq, err := w.store.LeaderSequence(ctx, agg.Ref)
		if err != nil {
			return false, err
		}
		if seq == agg.Position.Sequence {
			return true, nil
		}
		if stale++; stale > staleLoads {
			return false, fmt.Errorf("%w: %s %s: the loaded state stays behind the stream's leader", streams.ErrUnavailable, typ, req.AggregateID)
		}
		return false, nil
	}
	// settled reports whether an answer that appends nothing (a refusal, a
	// no-op) may be given on agg: not when it came from the worker's cache,
	// which may lag behind another writer, nor when the load is behind the
	// stream's leader; then the command is decided again on a fresh load.
	settled := func(agg streams.Aggregate[S], cached bool) (bool, error) {
		if cached {
			return false, nil
		}
		return current(agg)
	}
	for attempt := 0; ; {
		agg, cached, err := r.load(ctx, cache, key, req.AggregateID, fresh)
		if err != nil {
			return Reply{}, err
		}
		if req.ExpectedVersion != nil && *req.ExpectedVersion != agg.Position.Version {
			if ok, err := settled(agg, cached); err != nil {
				return Reply{}, err
			} else if !ok {
				fresh = true
				continue
			}
			return Reply{}, conflict("%s %s is at version %d, expected_version was %d",
				typ, req.AggregateID, agg.Position.Version, *req.ExpectedVersion)
		}
		decision, err := r.def.Decide(j.command, agg.State, agg.Exists(), req.Data)
		if err != nil {
			// A refusal (but not bad input, which no state changes) is
			// answered only on a settled state.
			if !errors.Is(err, aggregate.ErrInvalid) {
				if ok, serr := settled(agg, cached); serr != nil {
					return Reply{}, serr
				} else if !ok {
					fresh = true
					continue
				}
			}
			if decision.Unique != "" && req.CommandID != "" {
				w.releaseOrphan(ctx, typ, decision.Unique, req.AggregateID, prefix)
			}
			return Reply{}, decideError(typ, req.AggregateID, err)
		}
		if len(decision.Events) == 0 {
			// Nothing will be appended, so no concurrency check will catch
			// a stale state: it must be settled.
			if ok, err := settled(agg, cached); err != nil {
				return Reply{}, err
			} else if !ok {
				fresh = true
				continue
			}
			return w.replyOf(typ, req.AggregateID, agg.Position, nil), nil
		}
		events, roundTrips, err := r.encode(decision.Events, prefix)
		if err != nil {
			return Reply{}, err
		}
		if held, err = w.claim(ctx, held, typ, decision.Unique, req.AggregateID, prefix, agg.Position); err != nil {
			return Reply{}, err
		}
		next, appended, err := r.appendDecided(ctx, agg, decision.Events, events, roundTrips, req, w.lastMoment(j))
		if err == nil {
			r.remember(cache, key, next)
			if decision.Release != "" {
				w.giveBack(ctx, typ, decision.Release, req.AggregateID)
			}
			j.metrics.events().Add(float64(len(appended.Events)))
			return w.replyOf(typ, req.AggregateID, appended.Position, appended.Events), nil
		}
		cache.drop(key)
		if !errors.Is(err, streams.ErrConflict) {
			return Reply{}, err
		}
		if req.ExpectedVersion != nil {
			var ce *streams.ConflictError
			actual := "another version"
			if errors.As(err, &ce) && ce.Actual.Version != 0 {
				actual = "version " + strconv.FormatUint(uint64(ce.Actual.Version), 10)
			}
			return Reply{}, conflict("%s %s changed while the command ran: expected_version was %d, it is now at %s",
				typ, req.AggregateID, *req.ExpectedVersion, actual)
		}
		if attempt >= w.opts.MaxRetries {
			gaveUp := conflict("%s %s is being changed by other writers: gave up after %d retries; send the command again",
				typ, req.AggregateID, attempt)
			gaveUp.retryable = true
			return Reply{}, gaveUp
		}
		attempt++
		j.metrics.conflicts().Inc()
		fresh = true
		if err := backoff(ctx, attempt); err != nil {
			return Reply{}, fmt.Errorf("%w: %w", streams.ErrUnavailable, err)
		}
	}
}

// appendSure appends events at agg and, when the store does not confirm the
// outcome (a timeout), sends the same events again, with the same ids and
// expected position, until it learns what happened: stored once (a
// duplicate, or our ids found after agg's position), refused (a conflict
// without our ids), or stored now. When it cannot learn it, the error is
// errOutcomeUnknown if an attempt may have reached the server, and
// streams.ErrUnavailable only when none can have.
//
// Learning the outcome gets time of its own, but never past last (see
// Writer.lastMoment): a writer paused here and woken after another attempt
// took over the command or its unique key must send nothing.
func (r *typedRoute[S]) appendSure(ctx context.Context, agg streams.Aggregate[S], events []streams.Event, req Request, last time.Time) (streams.Aggregate[S], streams.Appended, error) {
	traced, command, correlated := tracing.AppendOption(ctx), withoutCommandID, noCorrelation
	if req.CommandID != "" {
		command = streams.WithCommandID(req.CommandID)
	}
	if req.CorrelationID != "" || req.CausationID != "" {
		correlated = streams.WithCorrelation(req.CorrelationID, req.CausationID)
	}
	next, appended, err := r.repo.Append(ctx, agg, events, command, traced, correlated)
	if err == nil || !errors.Is(err, streams.ErrUnavailable) {
		return next, appended, err
	}
	maybeSent := mayHaveReached(err)
	// The first attempt may have used up the command's time: learning the
	// outcome gets its own.
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), last)
	defer cancel()
	for range unsureRetries {
		if err := backoff(ctx, 1); err != nil {
			break
		}
		next, appended, err = r.repo.Append(ctx, agg, events, command, traced, correlated)
		switch {
		case err == nil:
			return next, appended, nil
		case errors.Is(err, streams.ErrDuplicate), errors.Is(err, streams.ErrConflict):
			mine, rerr := r.storedAfter(ctx, agg.Ref, agg.Position, events)
			if rerr != nil {
				maybeSent = true
				continue
			}
			if len(mine) == len(events) {
				pos := mine[len(mine)-1].Position()
				next, rerr := r.repo.Replay(ctx, agg, streams.Until{Version: pos.Version})
				if rerr != nil {
					next = agg // the caller drops it from the cache anyway
				}
				return next, streams.Appended{Position: pos, Events: mine}, nil
			}
			if errors.Is(err, streams.ErrConflict) {
				// Another writer moved the aggregate and our events are not
				// there: they can never be stored now (their expected
				// position is gone). A plain conflict.
				return agg, streams.Appended{}, err
			}
			return agg, streams.Appended{}, fmt.Errorf("%w: events refused as duplicates but not found after %s version %d",
				errOutcomeUnknown, agg.Ref, agg.Position.Version)
		case errors.Is(err, streams.ErrUnavailable):
			maybeSent = maybeSent || mayHaveReached(err)
		default:
			return agg, streams.Appended{}, err
		}
	}
	if maybeSent {
		return agg, streams.Appended{}, fmt.Errorf("%w: %w", errOutcomeUnknown, err)
	}
	return agg, streams.Appended{}, err
}

// withoutCommandID is the append option of a command without command_id.
var withoutCommandID = streams.WithCommandID("")

// noCorrelation is the append option of a command without correlation ids.
var noCorrelation = streams.WithCorrelation("", "")

// mayHaveReached reports whether a failed publish may have reached the
// server and been stored: every error but those raised before anything was
// sent, or by a server that had no JetStream to store it.
func mayHaveReached(err error) bool {
	for _, sure := range []error{nats.ErrConnectionReconnecting, nats.ErrDisconnected, nats.ErrReconnectBufExceeded,
		nats.ErrConnectionClosed, nats.ErrConnectionDraining, nats.ErrInvalidConnection, nats.ErrNoResponders,
		jetstream.ErrNoStreamResponse, jetstream.ErrJetStreamNotEnabled} {
		if errors.Is(err, sure) {
			return false
		}
	}
	return true
}

// storedAfter returns the events of ref after position from whose ids are
// those of events.
func (r *typedRoute[S]) storedAfter(ctx context.Context, ref streams.Ref, from streams.Position, events []streams.Event) ([]streams.Recorded, error) {
	ids := make(map[string]bool, len(events))
	for _, e := range events {
		ids[e.ID] = true
	}
	var mine []streams.Recorded
	for rec, err := range r.w.store.Read(ctx, ref, from, streams.Until{}) {
		if err != nil {
			return nil, err
		}
		if ids[rec.ID] {
			mine = append(mine, rec)
		}
	}
	return mine, nil
}

// encode encodes the decided events with the aggregate's registry. Their ids
// are "<prefix>-<index>": the prefix is the command_id, so that JetStream
// drops a resend within its duplicate window, or without one a fresh id per
// command, so that an append whose outcome is unknown can be resent safely.
//
// roundTrips tells, per event, whether its payload decodes back to the
// decided value (codec.Encoded.RoundTrips).
func (r *typedRoute[S]) encode(decided []any, prefix string) (events []streams.Event, roundTrips []bool, err error) {
	events, roundTrips = make([]streams.Event, len(decided)), make([]bool, len(decided))
	for i, e := range decided {
		enc, err := r.def.Events.Encode(e)
		if err != nil {
			return nil, nil, fmt.Errorf("encode %T: %w", e, err)
		}
		events[i] = streams.Event{Type: enc.Type, Schema: enc.Schema, Data: enc.Data, ID: prefix + "-" + strconv.Itoa(i),
			Personal: enc.Personal, Forgets: enc.Forgets}
		roundTrips[i] = enc.RoundTrips
	}
	return events, roundTrips, nil
}

// decideError words a domain refusal for a person.
func decideError(typ, id string, err error) error {
	switch {
	case errors.Is(err, aggregate.ErrNotFound):
		return &RequestError{Status: http.StatusNotFound, Code: CodeNotFound,
			Message: fmt.Sprintf("%s %s does not exist", typ, id)}
	case errors.Is(err, aggregate.ErrExists):
		return conflict("%s %s already exists", typ, id)
	case errors.Is(err, aggregate.ErrRejected):
		return &RequestError{Status: http.StatusUnprocessableEntity, Code: CodeRejected,
			Message: "rejected: " + strings.TrimPrefix(err.Error(), aggregate.ErrRejected.Error()+": ")}
	case errors.Is(err, aggregate.ErrInvalid):
		return badRequest("%s", strings.TrimPrefix(err.Error(), aggregate.ErrInvalid.Error()+": "))
	}
	return err
}

// replyOf is the reply of a command on aggregate typ/id that left it at pos
// having appended events. In a deployment of several streams it carries the
// read-your-writes position "<stream>:<sequence>" beside the sequence.
func (w *Writer) replyOf(typ, id string, pos streams.Position, events []streams.Recorded) Reply {
	r := Reply{AggregateID: id, Version: uint64(pos.Version), Sequence: uint64(pos.Sequence), Events: make([]ReplyEvent, len(events))}
	if w.store.MultiStream() {
		if stream, err := w.store.StreamOf(typ); err == nil { // registered types have one
			r.Position = streams.FormatPosition(stream, pos.Sequence)
		}
	}
	for i, e := range events {
		r.Events[i] = ReplyEvent{Type: e.Type, Version: uint64(e.Version), Sequence: uint64(e.Sequence)}
	}
	return r
}
