package writer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/streams"
)

// commandRecord is what the COMMANDS bucket keeps per command_id: the
// command it named, and its first reply.
type commandRecord struct {
	Type        string `json:"type"`
	Command     string `json:"command"`
	AggregateID string `json:"aggregate_id"`
	Reply       Reply  `json:"reply"`
}

// recorded returns the kept reply of the job's command_id, if there is one.
// A command_id kept for another command or aggregate is a conflict.
func (w *Writer) recorded(ctx context.Context, j *job) (Reply, bool, error) {
	cid := j.request.CommandID
	entry, err := w.commands.Get(ctx, cid)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Reply{}, false, nil
	}
	if err != nil {
		return Reply{}, false, fmt.Errorf("look up command_id %s: %w: %w", cid, streams.ErrUnavailable, err)
	}
	var rec commandRecord
	if err := json.Unmarshal(entry.Value(), &rec); err != nil {
		return Reply{}, false, fmt.Errorf("command_id %s: kept reply is corrupt: %w", cid, err)
	}
	if rec.Type != j.typ || rec.Command != j.command || rec.AggregateID != j.request.AggregateID {
		return Reply{}, false, conflict("command_id %s was already used for %s.%s on %s %s; use a new command_id for a new command",
			cid, rec.Type, rec.Command, rec.Type, rec.AggregateID)
	}
	return rec.Reply, true, nil
}

// keep stores the first reply of the job's command_id. A failure is logged,
// not returned: the events are stored, and a resend is still recognised by
// its events (see firstReply).
func (w *Writer) keep(ctx context.Context, j *job, reply Reply) {
	b, err := json.Marshal(commandRecord{Type: j.typ, Command: j.command, AggregateID: j.request.AggregateID, Reply: reply})
	if err == nil {
		_, err = w.commands.Put(ctx, j.request.CommandID, b)
	}
	if err != nil {
		w.log.Warn("command reply not kept", "command", j.typ+"."+j.command, "aggregate", j.request.AggregateID,
			"command_id", j.request.CommandID, "error", err)
	}
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
	return replyOf(j.request.AggregateID, events[len(events)-1].Position(), events), true, nil
}
