package writer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

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
	// CorrelationID and CausationID come from the request's headers
	// Es-Correlation-Id and Es-Causation-Id (see Correlation); empty when
	// absent. The writer records them on every event the command appends.
	CorrelationID, CausationID string
}

// Reply is a successful command's reply.
type Reply struct {
	AggregateID string `json:"aggregate_id"`
	// Version is the aggregate's version after the command.
	Version uint64 `json:"version"`
	// Sequence is the stream sequence of the last event appended (of the
	// aggregate's last event when the command appended none): pass it to
	// queries as min_sequence to read your own writes.
	Sequence uint64 `json:"sequence"`
	// Position is "<stream>:<sequence>" in a deployment of several event
	// streams (absent with one): the read-your-writes token to pass to
	// queries as min_sequence, naming the stream the sequence is of.
	Position string       `json:"position,omitempty"`
	Events   []ReplyEvent `json:"events"`
}

// ReplyEvent is one appended event in a Reply.
type ReplyEvent struct {
	Type     string `json:"type"`
	Version  uint64 `json:"version"`
	Sequence uint64 `json:"sequence"`
}

// MarshalJSON encodes the reply as encoding/json encodes its fields, without
// reflection: every command's reply is encoded.
func (r Reply) MarshalJSON() ([]byte, error) {
	return r.appendJSON(make([]byte, 0, 64+len(r.AggregateID)+64*len(r.Events))), nil
}

// appendJSON appends the reply's JSON (see MarshalJSON) to b.
func (r Reply) appendJSON(b []byte) []byte {
	b = append(b, `{"aggregate_id":`...)
	b = appendString(b, r.AggregateID)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, r.Version, 10)
	b = append(b, `,"sequence":`...)
	b = strconv.AppendUint(b, r.Sequence, 10)
	if r.Position != "" {
		b = append(b, `,"position":`...)
		b = appendString(b, r.Position)
	}
	b = append(b, `,"events":`...)
	if r.Events == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, e := range r.Events {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":`...)
			b = appendString(b, e.Type)
			b = append(b, `,"version":`...)
			b = strconv.AppendUint(b, e.Version, 10)
			b = append(b, `,"sequence":`...)
			b = strconv.AppendUint(b, e.Sequence, 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendString appends s as a JSON string, as encoding/json writes it. Ids
// and event types are plain ASCII; anything else goes through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Correlation reads a command request's optional headers Es-Correlation-Id
// and Es-Causation-Id (streams.HeaderCorrelationID, HeaderCausationID): each
// is 1 to 128 characters of A-Z, a-z, 0-9, '_' and '-' when present. A
// process manager sets them so that the events its commands cause carry the
// process's correlation id and the id of the event that caused them.
func Correlation(h nats.Header) (correlationID, causationID string, err error) {
	if correlationID, err = idHeader(h, streams.HeaderCorrelationID); err != nil {
		return "", "", err
	}
	if causationID, err = idHeader(h, streams.HeaderCausationID); err != nil {
		return "", "", err
	}
	return correlationID, causationID, nil
}

// idHeader returns the header name of h, given at most once and an id as a
// command_id is ("" when absent). A plain function: pointers to Correlation's
// results made them escape, two allocations for every command.
func idHeader(h nats.Header, name string) (string, error) {
	values := h.Values(name)
	switch {
	case len(values) == 0:
		return "", nil
	case len(values) > 1:
		return "", badRequest("header %s is given %d times: give it once", name, len(values))
	case !validCommandID(values[0]):
		return "", badRequest("header %s %s must be 1 to %d characters of A-Z, a-z, 0-9, '_' and '-' ([A-Za-z0-9_-]{1,128})",
			name, strconv.QuoteToASCII(truncate(values[0])), MaxCommandIDLength)
	}
	return values[0], nil
}

// MaxCommandIDLength is the longest command_id accepted.
const MaxCommandIDLength = 128

// requestFields are the top-level fields of a request, matched exactly
// (encoding/json alone would also take "AGGREGATE_ID").
var requestFields = []string{"aggregate_id", "command_id", "expected_version", "data"}

// DecodeRequest strictly decodes a command request body. Every error is a
// *RequestError of code bad_request whose message names the problem.
//
// It runs for every command, so it checks the body with json.Valid and then
// walks the object's members in place, instead of decoding it into a map; a
// body json.Valid refuses is decoded once more only to word the error.
func DecodeRequest(body []byte) (Request, error) {
	return decodeRequest(body, false)
}

// decodeRequest is DecodeRequest; owned says the request may keep body's
// bytes as its data, instead of a copy: a message nats.go hands to a
// subscription owns its payload.
func decodeRequest(body []byte, owned bool) (Request, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return Request{}, badRequest(`empty body: send a JSON object such as {"aggregate_id": "acc-52", "data": {…}}`)
	}
	if trimmed[0] != '{' {
		return Request{}, badRequest("the body must be a JSON object, got %s", describeStart(trimmed[0]))
	}
	if !json.Valid(trimmed) {
		return Request{}, malformed(trimmed)
	}
	// A member given twice counts with its last value, as encoding/json
	// decodes it.
	var rawID, rawCID, rawVersion, rawData []byte
	for m := (members{b: trimmed, i: 1}); ; {
		name, value, ok := m.next()
		if !ok {
			break
		}
		key := memberName(name)
		switch string(key) { // compared without copying
		case "aggregate_id":
			rawID = value
		case "command_id":
			rawCID = value
		case "expected_version":
			rawVersion = value
		case "data":
			rawData = value
		default:
			return Request{}, badRequest("unknown field %q: a request has only %s", truncate(string(key)), strings.Join(requestFields, ", "))
		}
	}
	var r Request
	if rawID == nil || isNull(rawID) {
		return Request{}, badRequest("aggregate_id is required")
	}
	id, err := stringField("aggregate_id", rawID)
	if err != nil {
		return Request{}, err
	}
	if err := streams.ValidateID(id); err != nil {
		return Request{}, badRequest("aggregate_id: %v", err)
	}
	r.AggregateID = id
	if rawCID != nil && !isNull(rawCID) {
		cid, err := stringField("command_id", rawCID)
		if err != nil {
			return Request{}, err
		}
		if !validCommandID(cid) {
			return Request{}, badRequest("command_id %s must be 1 to %d characters of A-Z, a-z, 0-9, '_' and '-' ([A-Za-z0-9_-]{1,128})",
				strconv.QuoteToASCII(truncate(cid)), MaxCommandIDLength)
		}
		r.CommandID = cid
	}
	if rawVersion != nil && !isNull(rawVersion) {
		v, err := strconv.ParseUint(string(rawVersion), 10, 64)
		if err != nil {
			return Request{}, badRequest("expected_version must be a non-negative integer, got %s", truncate(string(rawVersion)))
		}
		ev := streams.Version(v)
		r.ExpectedVersion = &ev
	}
	if rawData != nil && !isNull(rawData) {
		if rawData[0] != '{' {
			return Request{}, badRequest("data must be a JSON object, got %s", describeStart(rawData[0]))
		}
		r.Data = rawData
		if !owned {
			r.Data = bytes.Clone(rawData) // the request owns its data, not the caller's buffer
		}
	}
	return r, nil
}

// malformed words the error of a body that starts an object but that
// json.Valid refuses.
func malformed(trimmed []byte) error {
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		return badRequest("malformed JSON: %s", describe(err))
	}
	return badRequest("unexpected content after the JSON object")
}

// members walks the members of a JSON object that json.Valid accepted, from
// b[i], just after its opening brace. Validity is what keeps the walk
// simple: every string ends, every bracket closes.
type members struct {
	b []byte
	i int
}

// next returns the next member's name (quoted, as written) and value, or
// false after the last one.
func (m *members) next() (name, value []byte, ok bool) {
	m.skipSpace()
	if m.b[m.i] == ',' {
		m.i++
		m.skipSpace()
	}
	if m.b[m.i] == '}' {
		return nil, nil, false
	}
	end := skipString(m.b, m.i)
	name, m.i = m.b[m.i:end], end
	m.skipSpace()
	m.i++ // the colon
	m.skipSpace()
	end = skipValue(m.b, m.i)
	value, m.i = m.b[m.i:end], end
	return name, value, true
}

func (m *members) skipSpace() {
	for m.i < len(m.b) && isSpace(m.b[m.i]) {
		m.i++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipString returns the index just past the string that starts at b[i].
func skipString(b []byte, i int) int {
	for i++; b[i] != '"'; i++ {
		if b[i] == '\\' {
			i++
		}
	}
	return i + 1
}

// skipValue returns the index just past the value that starts at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && !isSpace(b[i]) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
		i++
	}
	return i
}

// memberName returns a member's name unquoted.
func memberName(quoted []byte) []byte {
	if plain := quoted[1 : len(quoted)-1]; isPlainASCII(plain) {
		return plain
	}
	var s string
	_ = json.Unmarshal(quoted, &s) // valid: json.Valid accepted the body
	return []byte(s)
}

// isPlainASCII reports whether the inside of a JSON string is printable
// ASCII without escapes: what it reads as, byte for byte.
func isPlainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '\\' || c == '"' {
			return false
		}
	}
	return true
}

// validCommandID reports whether cid matches [A-Za-z0-9_-]{1,128}.
func validCommandID(cid string) bool {
	if len(cid) == 0 || len(cid) > MaxCommandIDLength {
		return false
	}
	for i := range len(cid) {
		c := cid[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func isNull(raw []byte) bool { return string(raw) == "null" }

// stringField decodes a JSON string field.
func stringField(name string, raw []byte) (string, error) {
	if raw[0] == '"' && isPlainASCII(raw[1:len(raw)-1]) {
		return string(raw[1 : len(raw)-1]), nil
	}
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
