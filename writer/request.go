package writer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jetsource/jetsource/streams"
)

// Request is a decoded command request (DESIGN §2).
type Request struct {
	// AggregateID is valid for a subject token ([A-Za-z0-9_-]{1,128}).
	AggregateID string
	// CommandID is empty when the client gave none.
	CommandID string
	// ExpectedVersion is nil when the client gave none.
	ExpectedVersion *streams.Version
	// Data is the command's JSON object, or nil when absent or null.
	Data json.RawMessage
}

// Reply is a successful command's reply.
type Reply struct {
	AggregateID string `json:"aggregate_id"`
	// Version is the aggregate's version after the command.
	Version uint64 `json:"version"`
	// Sequence is the stream sequence of the last event appended (of the
	// aggregate's last event when the command appended none): pass it to
	// queries as min_sequence to read your own writes.
	Sequence uint64       `json:"sequence"`
	Events   []ReplyEvent `json:"events"`
}

// ReplyEvent is one appended event in a Reply.
type ReplyEvent struct {
	Type     string `json:"type"`
	Version  uint64 `json:"version"`
	Sequence uint64 `json:"sequence"`
}

// MaxCommandIDLength is the longest command_id accepted.
const MaxCommandIDLength = 128

var commandIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// requestFields are the top-level fields of a request, matched exactly
// (encoding/json alone would also take "AGGREGATE_ID").
var requestFields = []string{"aggregate_id", "command_id", "expected_version", "data"}

// DecodeRequest strictly decodes a command request body. Every error is a
// *RequestError of code bad_request whose message names the problem.
func DecodeRequest(body []byte) (Request, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return Request{}, badRequest(`empty body: send a JSON object such as {"aggregate_id": "acc-52", "data": {…}}`)
	}
	if trimmed[0] != '{' {
		return Request{}, badRequest("the body must be a JSON object, got %s", describeStart(trimmed[0]))
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		return Request{}, badRequest("malformed JSON: %s", describe(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Request{}, badRequest("unexpected content after the JSON object")
	}
	for name := range fields {
		if !slices.Contains(requestFields, name) {
			return Request{}, badRequest("unknown field %q: a request has only %s", truncate(name), strings.Join(requestFields, ", "))
		}
	}
	var r Request
	raw, ok := fields["aggregate_id"]
	if !ok || isNull(raw) {
		return Request{}, badRequest("aggregate_id is required")
	}
	id, err := stringField("aggregate_id", raw)
	if err != nil {
		return Request{}, err
	}
	if err := streams.ValidateID(id); err != nil {
		return Request{}, badRequest("aggregate_id: %v", err)
	}
	r.AggregateID = id
	if raw, ok := fields["command_id"]; ok && !isNull(raw) {
		cid, err := stringField("command_id", raw)
		if err != nil {
			return Request{}, err
		}
		if !commandIDPattern.MatchString(cid) {
			return Request{}, badRequest("command_id %s must be 1 to %d characters of A-Z, a-z, 0-9, '_' and '-' ([A-Za-z0-9_-]{1,128})",
				strconv.QuoteToASCII(truncate(cid)), MaxCommandIDLength)
		}
		r.CommandID = cid
	}
	if raw, ok := fields["expected_version"]; ok && !isNull(raw) {
		v, err := strconv.ParseUint(string(raw), 10, 64)
		if err != nil {
			return Request{}, badRequest("expected_version must be a non-negative integer, got %s", truncate(string(raw)))
		}
		ev := streams.Version(v)
		r.ExpectedVersion = &ev
	}
	if raw, ok := fields["data"]; ok && !isNull(raw) {
		if raw[0] != '{' {
			return Request{}, badRequest("data must be a JSON object, got %s", describeStart(raw[0]))
		}
		r.Data = raw
	}
	return r, nil
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// stringField decodes a JSON string field.
func stringField(name string, raw json.RawMessage) (string, error) {
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", badRequest("%s must be a string, got %s", name, describeStart(raw[0]))
	}
	return s, nil
}

// describeStart names the kind of JSON value that starts with c.
func describeStart(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return "something that is not JSON"
}

// truncate keeps echoed input short.
func truncate(s string) string {
	const maxEcho = 64
	if len(s) > maxEcho {
		return s[:maxEcho] + "…"
	}
	return s
}

func describe(err error) string {
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return fmt.Sprintf("%v (at byte %d)", syntaxErr, syntaxErr.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "the JSON object is incomplete"
	}
	return err.Error()
}
