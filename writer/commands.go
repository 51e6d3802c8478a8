package writer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/jetsource/jetsource/streams"
)

// The states of a command_id in the COMMANDS bucket.
const (
	// commandPending: an attempt claimed the command_id and is running it;
	// its twins wait for its outcome.
	commandPending = "pending"
	// commandDone: the first outcome is kept, a reply or a refusal.
	commandDone = "done"
)

// Pacing of a twin that waits for the first attempt's outcome.
const (
	twinPollFirst = 5 * time.Millisecond
	twinPollMax   = 100 * time.Millisecond
	// claimRetries bounds how often a claim is tried again when the entry
	// changes under it (released, taken over) between two calls.
	claimRetries = 5
)

// commandRecord is what the COMMANDS bucket keeps per command_id: the
// command it named and, once done, its first outcome: a reply, or the
// refusal (404, 409, 422) it was answered with. A pending record names the
// attempt that runs it and when it claimed it, so that a twin can tell a
// live first attempt from a dead one. Records of older writers have no
// state and hold a reply: they read as done.
type commandRecord struct {
	Type        string        `json:"type"`
	Command     string        `json:"command"`
	AggregateID string        `json:"aggregate_id"`
	State       string        `json:"state,omitempty"`
	Owner       string        `json:"owner,omitempty"`
	Claimed     time.Time     `json:"claimed,omitzero"`
	Reply       *Reply        `json:"reply,omitempty"`
	Refusal     *RequestError `json:"refusal,omitempty"`
}

func (r commandRecord) done() bool {
	return r.State == commandDone || (r.State == "" && r.Reply != nil)
}

// outcome is the kept outcome of a done record.
func (r commandRecord) outcome() (Reply, error) {
	if r.Refusal != nil {
		return Reply{}, r.Refusal
	}
	if r.Reply == nil {
		return Reply{}, errors.New("kept command record has neither reply nor refusal")
	}
	return *r.Reply, nil
}

// commandClaim is this attempt's claim of a command_id: the revision of its
// pending record.
type commandClaim struct{ revision uint64 }

// claimCommand makes this attempt the one that runs the job's command_id, or
// returns the outcome kept for it. Exactly one attempt of a command_id runs
// at a time, on any writer: a twin that finds it pending waits for the
// outcome until its deadline (then 503, nothing done), and takes over a
// claim older than the stale age, whose attempt died or hung: the dead
// attempt's events, if it stored any, are found by the caller before it
// decides anything (see handle). A command_id kept for another command or
// aggregate is a conflict.
func (w *Writer) claimCommand(ctx context.Context, j *job) (claim *commandClaim, kept *commandRecord, err error) {
	cid := j.request.CommandID
	mine := commandRecord{Type: j.typ, Command: j.command, AggregateID: j.request.AggregateID,
		State: commandPending, Owner: nuid.Next()}
	pause := twinPollFirst
	for tries := 0; ; {
		mine.Claimed = time.Now()
		b, _ := json.Marshal(mine)
		rev, err := w.commands.Create(ctx, cid, b)
		if err == nil {
			return &commandClaim{revision: rev}, nil, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, nil, fmt.Errorf("claim command_id %s: %w: %w", cid, streams.ErrUnavailable, err)
		}
		entry, err := w.commands.Get(ctx, cid)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			// Released between our create and get: claim again.
			if tries++; tries > claimRetries {
				return nil, nil, fmt.Errorf("claim command_id %s: %w: released and claimed again too often", cid, streams.ErrUnavailable)
			}
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("look up command_id %s: %w: %w", cid, streams.ErrUnavailable, err)
		}
		var rec commandRecord
		if err := json.Unmarshal(entry.Value(), &rec); err != nil {
			return nil, nil, fmt.Errorf("command_id %s: kept record is corrupt: %w", cid, err)
		}
		if rec.Type != j.typ || rec.Command != j.command || rec.AggregateID != j.request.AggregateID {
			return nil, nil, conflict("command_id %s was already used for %s.%s on %s %s; use a new command_id for a new command",
				cid, rec.Type, rec.Command, rec.Type, rec.AggregateID)
		}
		if rec.done() {
			return nil, &rec, nil
		}
		if time.Since(rec.Claimed) > w.opts.StaleClaim {
			b, _ := json.Marshal(mine)
			rev, err := w.commands.Update(ctx, cid, b, entry.Revision())
			if err == nil {
				w.log.Warn("took over the claim of a command whose first attempt did not finish",
					"command", j.typ+"."+j.command, "aggregate", j.request.AggregateID, "command_id", cid, "claimed", rec.Claimed)
				return &commandClaim{revision: rev}, nil, nil
			}
			if tries++; tries > claimRetries {
				return nil, nil, fmt.Errorf("take over command_id %s: %w: %w", cid, streams.ErrUnavailable, err)
			}
			continue
		}
		// The first attempt is running: wait for its outcome.
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, fmt.Errorf("%w: %w", errFirstAttemptRunning, ctx.Err())
		case <-t.C:
		}
		pause = min(pause*2, twinPollMax)
	}
}

// errFirstAttemptRunning answers a twin that waited for the first attempt of
// its command_id past its own deadline: it did nothing, and a resend later
// gets the first attempt's outcome.
var errFirstAttemptRunning = &RequestError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
	Message: "the first attempt of this command_id is still running; nothing was done, send it again to get its outcome"}

// settleCommand records the outcome of the attempt that holds claim: a reply
// or a refusal is kept for every later twin; any other error (unavailable,
// internal, a retryable conflict) gives the claim back, so that a resend
// runs the command again. An outcome that is unknown keeps the claim: a
// twin takes it over once stale and first looks for the events it may have
// stored. A failure to keep is logged, not returned: the events are stored,
// and a twin finds them (see handle).
func (w *Writer) settleCommand(ctx context.Context, j *job, claim *commandClaim, reply Reply, outcome error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.Timeout)
	defer cancel()
	rec := commandRecord{Type: j.typ, Command: j.command, AggregateID: j.request.AggregateID, State: commandDone}
	switch refusal := keptRefusal(outcome); {
	case outcome == nil:
		rec.Reply = &reply
	case refusal != nil:
		rec.Refusal = refusal
	case errors.Is(outcome, errOutcomeUnknown):
		return
	default:
		if err := w.commands.Delete(ctx, j.request.CommandID, jetstream.LastRevision(claim.revision)); err != nil {
			w.log.Warn("command claim not released", "command", j.typ+"."+j.command, "aggregate", j.request.AggregateID,
				"command_id", j.request.CommandID, "error", err)
		}
		return
	}
	b, err := json.Marshal(rec)
	if err == nil {
		_, err = w.commands.Update(ctx, j.request.CommandID, b, claim.revision)
	}
	if err != nil {
		w.log.Warn("command outcome not kept", "command", j.typ+"."+j.command, "aggregate", j.request.AggregateID,
			"command_id", j.request.CommandID, "error", err)
	}
}

// keptRefusal returns the wire error of a refusal that is the command's
// first outcome, to be answered again to every twin: not found, conflict
// (the aggregate exists, or expected_version did not match), rejected by
// the domain. Nil for every other error: those are transient or bugs.
func keptRefusal(err error) *RequestError {
	if err == nil {
		return nil
	}
	re, internal := classify(err)
	if internal || re.retryable {
		return nil
	}
	switch re.Status {
	case http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity:
		return re
	}
	return nil
}

// firstReply rebuilds the reply of the job's command_id from the events it
// stored on the job's aggregate (within the duplicate window), if any.
func (w *Writer) firstReply(ctx context.Context, j *job) (Reply, bool, error) {
	ref, err := streams.NewRef(j.typ, j.request.AggregateID)
	if err != nil {
		return Reply{}, false, err
	}
	events, err := w.store.CommandEvents(ctx, ref, j.request.CommandID)
	if err != nil || len(events) == 0 {
		return Reply{}, false, err
	}
	return w.replyOf(j.typ, j.request.AggregateID, events[len(events)-1].Position(), events), true, nil
}
