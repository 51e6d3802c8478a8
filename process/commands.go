package process

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/writer"
)

// Commands sends the commands of one event (or timer) of a process instance.
type Commands struct {
	m           *Manager
	ref         streams.Ref
	correlation string
	causation   string
}

func (m *Manager) commands(ref streams.Ref, correlation, causation string) *Commands {
	return &Commands{m: m, ref: ref, correlation: correlation, causation: causation}
}

// CorrelationID is the id every command sent through c carries.
func (c *Commands) CorrelationID() string { return c.correlation }

// CausationID is the id of the event (or timer) that caused the commands.
func (c *Commands) CausationID() string { return c.causation }

// Outcome is a command's answer: accepted (Reply set) or refused by the
// domain or the writer for good (404, 409, 422: Refused set).
type Outcome struct {
	Reply   writer.Reply
	Refused *Refusal
}

// Accepted reports whether the command was accepted.
func (o Outcome) Accepted() bool { return o.Refused == nil }

// Refusal is a kept refusal: a resend gets the same one.
type Refusal struct {
	Status  int
	Code    string
	Message string
}

func (r *Refusal) Error() string { return fmt.Sprintf("%d %s: %s", r.Status, r.Code, r.Message) }

// ErrTransient marks an answer that keeps nothing (503, 500, a 409 that gave
// up, no answer): the step must run again.
var ErrTransient = errors.New("transient failure: the step runs again")

// CommandID derives a command_id from its parts, unambiguously: each part
// as its length, '_' and itself, joined with '-' ("9_transfers-2_t1-8_withdraw"),
// when that is a valid command_id ([A-Za-z0-9_-]{1,128}); else "pm-" and the
// hex SHA-256 of the same encoding. The same parts always give the same id,
// and other parts never do (ids and step names may hold '-' themselves).
func CommandID(parts ...string) string {
	enc := make([]string, len(parts))
	for i, p := range parts {
		enc[i] = strconv.Itoa(len(p)) + "_" + p
	}
	joined := strings.Join(enc, "-")
	if validToken(joined) {
		return joined
	}
	sum := sha256.Sum256([]byte(joined))
	return "pm-" + hex.EncodeToString(sum[:])
}

// validToken reports whether s is valid as a command_id or a header id:
// the grammar of an aggregate id, [A-Za-z0-9_-]{1,128}.
func validToken(s string) bool { return streams.ValidateID(s) == nil }

// Send sends the command cmd.<typ>.<command> to aggregateID with data (nil
// for none). Its command_id is CommandID(process, instance type, instance
// id, step): step names the step within the process instance, so the same
// step sends the same command_id however often it runs. It retries a
// transient answer until ctx ends (then the error wraps ErrTransient).
func (c *Commands) Send(ctx context.Context, typ, command, aggregateID, step string, data any) (Outcome, error) {
	body := map[string]any{"aggregate_id": aggregateID,
		"command_id": CommandID(c.m.p.Name, c.ref.Type(), c.ref.ID(), step)}
	if data != nil {
		body["data"] = data
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return Outcome{}, fmt.Errorf("command %s.%s: %w", typ, command, err)
	}
	msg := nats.NewMsg("cmd." + typ + "." + command)
	msg.Data = raw
	msg.Header.Set(streams.HeaderCorrelationID, c.correlation)
	msg.Header.Set(streams.HeaderCausationID, c.causation)
	for attempt := 0; ; attempt++ {
		out, err := c.send(ctx, msg)
		if !errors.Is(err, ErrTransient) {
			return out, err
		}
		if ctx.Err() != nil || attempt >= 20 {
			return Outcome{}, fmt.Errorf("command %s.%s %s: %w", typ, command, aggregateID, err)
		}
		sleep(ctx, min(time.Duration(attempt+1)*100*time.Millisecond, 2*time.Second))
	}
}

func (c *Commands) send(ctx context.Context, msg *nats.Msg) (Outcome, error) {
	rctx, cancel := context.WithTimeout(ctx, c.m.opts.CommandTimeout)
	defer cancel()
	reply, err := c.m.nc.RequestMsgWithContext(rctx, msg)
	if err != nil {
		return Outcome{}, fmt.Errorf("%w: %v", ErrTransient, err)
	}
	if code := reply.Header.Get("Nats-Service-Error-Code"); code != "" {
		status, _ := strconv.Atoi(code)
		var body struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(reply.Data, &body)
		r := &Refusal{Status: status, Code: body.Error.Code, Message: body.Error.Message}
		if r.Message == "" {
			r.Message = reply.Header.Get("Nats-Service-Error")
		}
		switch {
		case status == 404 || status == 422:
			return Outcome{Refused: r}, nil
		case status == 409 && !strings.Contains(r.Message, "gave up after"):
			return Outcome{Refused: r}, nil
		}
		return Outcome{}, fmt.Errorf("%w: %v", ErrTransient, r)
	}
	var out Outcome
	if err := json.Unmarshal(reply.Data, &out.Reply); err != nil {
		return Outcome{}, fmt.Errorf("reply %q: %w", reply.Data, err)
	}
	return out, nil
}

// Schedule makes the timer of this process instance fire once at at (Fired
// is then called with data). Scheduling again replaces a timer that has not
// fired yet.
func (c *Commands) Schedule(ctx context.Context, at time.Time, data []byte) error {
	if c.m.p.Fired == nil {
		return fmt.Errorf("process %s: Schedule needs Fired", c.m.p.Name)
	}
	msg := nats.NewMsg(c.m.scheduleSubject(c.ref))
	msg.Data = data
	msg.Header.Set(streams.HeaderCorrelationID, c.correlation)
	msg.Header.Set(streams.HeaderCausationID, c.causation)
	rctx, cancel := context.WithTimeout(ctx, c.m.opts.CommandTimeout)
	defer cancel()
	_, err := c.m.js.PublishMsg(rctx, msg, jetstream.WithScheduleAt(at),
		jetstream.WithScheduleTarget(c.m.firedSubject(c.ref)), jetstream.WithExpectStream(c.m.opts.TimerStream))
	if err != nil {
		return fmt.Errorf("%w: schedule the timer of %s: %v", ErrTransient, c.ref, err)
	}
	return nil
}
