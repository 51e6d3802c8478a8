package writer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"github.com/jetsource/jetsource/streams"
)

// Request is a command request (DESIGN §2).
type Request struct {
	AggregateID string
	CommandID   string
	// ExpectedVersion is nil when the client gave none.
	ExpectedVersion *streams.Version
	Data            json.RawMessage
}

// Reply is a successful command's reply.
type Reply struct {
	AggregateID string       `json:"aggregate_id"`
	Version     uint64       `json:"version"`
	Sequence    uint64       `json:"sequence"`
	Events      []ReplyEvent `json:"events"`
}

// ReplyEvent is one appended event in a Reply.
type ReplyEvent struct {
	Type     string `json:"type"`
	Version  uint64 `json:"version"`
	Sequence uint64 `json:"sequence"`
}

var commandIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// wireRequest is the JSON shape; pointers tell absent fields from zero ones.
type wireRequest struct {
	AggregateID     *string         `json:"aggregate_id"`
	CommandID       *string         `json:"command_id"`
	ExpectedVersion json.RawMessage `json:"expected_version"`
	Data            json.RawMessage `json:"data"`
}

// DecodeRequest strictly decodes a command request body. Every error is a
// *RequestError saying what was wrong.
func DecodeRequest(body []byte) (Request, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return Request{}, badRequest("empty body: send a JSON object with aggregate_id")
	}
	if trimmed[0] != '{' {
		return Request{}, badRequest("body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	var w wireRequest
	if err := dec.Decode(&w); err != nil {
		return Request{}, badRequest("malformed request: %s", describe(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Request{}, badRequest("unexpected content after the JSON object")
	}
	var r Request
	if w.AggregateID == nil {
		return Request{}, badRequest("aggregate_id is required")
	}
	if err := streams.ValidateID(*w.AggregateID); err != nil {
		return Request{}, badRequest("%v", err)
	}
	r.AggregateID = *w.AggregateID
	if w.CommandID != nil {
		if !commandIDPattern.MatchString(*w.CommandID) {
			return Request{}, badRequest("command_id must match [A-Za-z0-9_-]{1,128}")
		}
		r.CommandID = *w.CommandID
	}
	if len(w.ExpectedVersion) > 0 && string(w.ExpectedVersion) != "null" {
		v, err := parseVersion(w.ExpectedVersion)
		if err != nil {
			return Request{}, err
		}
		r.ExpectedVersion = &v
	}
	if d := bytes.TrimSpace(w.Data); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
		if d[0] != '{' {
			return Request{}, badRequest("data must be a JSON object")
		}
		r.Data = d
	}
	return r, nil
}

// parseVersion accepts a JSON integer only: not a string, a fraction or an
// exponent.
func parseVersion(raw json.RawMessage) (streams.Version, error) {
	v, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		return 0, badRequest("expected_version must be a non-negative integer, got %s", truncate(string(raw)))
	}
	return streams.Version(v), nil
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
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q has the wrong type (got JSON %s)", typeErr.Field, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("invalid JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	}
	return err.Error()
}
