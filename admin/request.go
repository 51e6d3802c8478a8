package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/jetsource/jetsource/aggregate"
)

// ErrNoService means no running service offers the subject (NATS has no
// responders for it).
var ErrNoService = errors.New("no service offers the subject")

// ReplyError is an error reply of a service: the contract's status, code
// and message.
type ReplyError struct {
	Subject string `json:"subject"`
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *ReplyError) Error() string {
	return fmt.Sprintf("%s answered %d %s: %s", e.Subject, e.Status, e.Code, e.Message)
}

// Send sends a command, cmd.<typ>.<command>, with body, the contract's
// request JSON ({"aggregate_id": …, "data": …}), and returns the writer's
// success reply; a refusal is a *ReplyError.
func (c *Client) Send(ctx context.Context, typ, command string, body []byte) (json.RawMessage, error) {
	if err := aggregate.ValidateType(typ); err != nil {
		return nil, err
	}
	if err := aggregate.ValidateType(command); err != nil {
		return nil, fmt.Errorf("command name: %w", err)
	}
	if err := jsonObject(body); err != nil {
		return nil, fmt.Errorf("command body: %w", err)
	}
	return c.request(ctx, "cmd."+typ+"."+command, body, "writer")
}

// Query sends a query, query.<model>.<name>, with its parameters and
// returns the reader's reply ({"data": …, "sequence": …}); a refusal is a
// *ReplyError.
func (c *Client) Query(ctx context.Context, model, name string, params map[string]any) (json.RawMessage, error) {
	if err := aggregate.ValidateType(model); err != nil {
		return nil, fmt.Errorf("query model: %w", err)
	}
	if err := aggregate.ValidateType(name); err != nil {
		return nil, fmt.Errorf("query name: %w", err)
	}
	if params == nil {
		params = map[string]any{}
	}
	body, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("query parameters: %w", err)
	}
	return c.request(ctx, "query."+model+"."+name, body, "reader")
}

// QueryParams parses k=v arguments into query parameters: a value that
// reads as JSON (a number, true, false, null, an object or a list) is taken
// as such, anything else as a string; k="…" forces a string.
func QueryParams(args []string) (map[string]any, error) {
	params := make(map[string]any, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("query parameter %q: want key=value", a)
		}
		if _, dup := params[k]; dup {
			return nil, fmt.Errorf("query parameter %q given twice", k)
		}
		var value any = v
		if json.Valid([]byte(v)) {
			d := json.NewDecoder(strings.NewReader(v))
			d.UseNumber()
			if err := d.Decode(&value); err != nil {
				value = v
			}
		}
		params[k] = value
	}
	return params, nil
}

// jsonObject checks that body is one JSON object.
func jsonObject(body []byte) error {
	var v map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&v); err != nil || v == nil {
		return fmt.Errorf("want a JSON object such as {\"aggregate_id\": \"acc-1\", \"data\": {…}}: %s", describe(err))
	}
	if d.More() {
		return errors.New("want one JSON object, got more after it")
	}
	return nil
}

func describe(err error) string {
	if err == nil {
		return "got null"
	}
	return err.Error()
}

// request sends body to subject and returns the service's success reply.
func (c *Client) request(ctx context.Context, subject string, body []byte, service string) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	reply, err := c.NATS.RequestWithContext(ctx, subject, body)
	if err != nil {
		return nil, requestError(subject, service, err)
	}
	if err := replyError(subject, reply); err != nil {
		return nil, err
	}
	return reply.Data, nil
}

// requestError says why a request got no reply.
func requestError(subject, service string, err error) error {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("no %s is running for %s: %w", service, subject, ErrNoService)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return fmt.Errorf("%s: no answer in time: %w", subject, err)
	}
	return fmt.Errorf("%s: %w", subject, err)
}

// replyError is the *ReplyError of a reply with the micro error headers,
// nil for a success.
func replyError(subject string, reply *nats.Msg) error {
	code := reply.Header.Get(micro.ErrorCodeHeader)
	if code == "" {
		return nil
	}
	e := &ReplyError{Subject: subject, Message: reply.Header.Get(micro.ErrorHeader)}
	e.Status, _ = strconv.Atoi(code)
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(reply.Data, &body) == nil && body.Error.Code != "" {
		// The writer's messages may start with their code: said once.
		e.Code, e.Message = body.Error.Code, strings.TrimPrefix(body.Error.Message, body.Error.Code+": ")
	}
	return e
}
