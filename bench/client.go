package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/jetsource/jetsource/writer"
)

// errorCodeHeader is the contract's error header (docs/contract.md §2).
const errorCodeHeader = "Nats-Service-Error-Code"

// ReplyError is an error answer of the platform: its status and message.
type ReplyError struct {
	Subject string
	Status  string
	Message string
}

func (e *ReplyError) Error() string {
	return fmt.Sprintf("%s answered %s: %s", e.Subject, e.Status, e.Message)
}

// ErrNoBenchDomain means nothing answers the bench domain's subjects: the
// deployment does not run it.
var ErrNoBenchDomain = errors.New("no service answers the bench domain (cmd.bench.*, query.bench.stream): run the deployment with bench.Domain() beside its own domains, run `bench -serve` beside it, or use -standalone")

// client sends the contract's requests over one NATS connection.
type client struct{ nc *nats.Conn }

// request sends body to subject and returns the reply's body, or a
// *ReplyError for an error answer.
func (c client) request(ctx context.Context, subject string, body any) ([]byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	msg, err := c.nc.RequestWithContext(ctx, subject, data)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, fmt.Errorf("%s: %w", subject, ErrNoBenchDomain)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", subject, err)
	}
	if code := msg.Header.Get(errorCodeHeader); code != "" {
		var env struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(msg.Data, &env)
		return nil, &ReplyError{Subject: subject, Status: code + " " + env.Error.Code, Message: env.Error.Message}
	}
	return msg.Data, nil
}

// command sends cmd.bench.<name> for stream id with data, and commandID
// when it is not empty (the command is then idempotent).
func (c client) command(ctx context.Context, name, id, commandID string, data Append) (writer.Reply, error) {
	req := map[string]any{"aggregate_id": id, "data": data}
	if commandID != "" {
		req["command_id"] = commandID
	}
	body, err := c.request(ctx, "cmd."+Type+"."+name, req)
	if err != nil {
		return writer.Reply{}, err
	}
	var r writer.Reply
	if err := json.Unmarshal(body, &r); err != nil {
		return writer.Reply{}, fmt.Errorf("cmd.%s.%s: reply %q: %w", Type, name, body, err)
	}
	if len(r.Events) != max(data.Count, 1) {
		return r, fmt.Errorf("cmd.%s.%s on %s: %d events acknowledged, %d sent", Type, name, id, len(r.Events), max(data.Count, 1))
	}
	return r, nil
}

// readStream asks query.bench.stream for up to limit events of stream id
// from version from; minSequence 0 asks for no wait.
func (c client) readStream(ctx context.Context, id string, from, limit int, minSequence uint64) (StreamPage, error) {
	q := map[string]any{"id": id, "from": from, "limit": limit}
	if minSequence > 0 {
		q["min_sequence"], q["wait_ms"] = minSequence, checkWait.Milliseconds()
	}
	body, err := c.request(ctx, "query."+Type+".stream", q)
	if err != nil {
		return StreamPage{}, err
	}
	var r struct {
		Data StreamPage `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return StreamPage{}, fmt.Errorf("query.%s.stream: reply: %w", Type, err)
	}
	return r.Data, nil
}

// readAfter reads as readStream does once the read model reached
// minSequence, asking again while it answers 503 (stale: the projection is
// behind) for up to catchUpWait.
func (c client) readAfter(ctx context.Context, id string, from, limit int, minSequence uint64) (StreamPage, error) {
	ctx, cancel := context.WithTimeout(ctx, catchUpWait)
	defer cancel()
	for {
		page, err := c.readStream(ctx, id, from, limit, minSequence)
		var re *ReplyError
		if !errors.As(err, &re) || !strings.HasPrefix(re.Status, "503") || ctx.Err() != nil {
			return page, err
		}
	}
}

// transient reports whether err is worth sending the same request again
// for: a 503 or a timeout, which append nothing or, with a command_id, are
// answered by the first attempt's outcome.
func transient(err error) bool {
	var re *ReplyError
	if errors.As(err, &re) {
		return strings.HasPrefix(re.Status, "503")
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)
}

// preflight checks that the deployment runs the bench domain: a command and
// a query on a stream that does not exist both answer 404.
func (c client) preflight(ctx context.Context) error {
	const missing = "bench-preflight-missing"
	for _, try := range []func() error{
		func() error { _, err := c.command(ctx, "append", missing, "", Append{Payload: "x"}); return err },
		func() error { _, err := c.readStream(ctx, missing, 1, 1, 0); return err },
	} {
		var re *ReplyError
		if err := try(); !errors.As(err, &re) || !strings.HasPrefix(re.Status, "404") {
			if err == nil {
				err = errors.New("a stream that should not exist answered")
			}
			return fmt.Errorf("preflight: %w", err)
		}
	}
	return nil
}

// code names an operation's error for the report: the platform's status,
// or what went wrong on the way.
func code(err error) string {
	var re *ReplyError
	switch {
	case errors.As(err, &re):
		return strings.Fields(re.Status)[0]
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return "timeout"
	default:
		return "other"
	}
}
