package reader

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/jetsource/jetsource/projections"
	"github.com/jetsource/jetsource/streams"
)

// Query is one query the reader serves on query.<Model>.<Name>: its
// parameters, declared with their JSON types and checks, and a function that
// reads the answer from a View of its projection's current generation. The
// reader gives every query the rest: strict parameter decoding (400 naming
// the bad parameter), read-your-writes waits (min_sequence, wait_ms), the
// atomic read (answer and checkpoint from one generation, retried when a
// rebuild switches generation mid-read), 404 for projections.ErrNotFound,
// 503 when Redis cannot be reached, 500 for a bug or a panic, and metrics.
type Query struct {
	// Model and Name make the subject query.<Model>.<Name>: each
	// [a-z][a-z0-9_]{0,63}.
	Model, Name string
	// Projection is the projection Read reads; a min_sequence waits for it
	// and for Also.
	Projection string
	// Also lists further projections an answer depends on.
	Also []string
	// Params are the query's parameters; any other is refused.
	Params []Param
	// Read answers the query. Its error is the reply's: wrap
	// projections.ErrNotFound (projections.NotFound) for a 404, return
	// Invalid for a 400.
	Read func(ctx context.Context, v *projections.View, p Params) (any, error)
}

// tokenName is the grammar of a model or query name (a subject token).
var tokenName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Subject is the query's subject, query.<model>.<name>.
func (q Query) Subject() string { return "query." + q.Model + "." + q.Name }

// projectionsBehind lists every projection the answer depends on.
func (q Query) projectionsBehind() []string { return append([]string{q.Projection}, q.Also...) }

func (q Query) validate() error {
	for _, s := range []string{q.Model, q.Name} {
		if !tokenName.MatchString(s) {
			return fmt.Errorf("reader: query %s.%s: model and name must match [a-z][a-z0-9_]{0,63}", q.Model, q.Name)
		}
	}
	if q.Projection == "" || q.Read == nil {
		return fmt.Errorf("reader: query %s.%s needs a projection and Read", q.Model, q.Name)
	}
	seen := map[string]bool{}
	for _, p := range q.Params {
		if p.Name == "" || seen[p.Name] || p.Name == "min_sequence" || p.Name == "wait_ms" {
			return fmt.Errorf("reader: query %s.%s: parameter %q is empty, repeated or reserved", q.Model, q.Name, p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}

// ParamType is the JSON type of a parameter.
type ParamType int

// The parameter types.
const (
	// String is a JSON string.
	String ParamType = iota
	// Integer is a JSON number without a fraction.
	Integer
)

// Param declares one parameter of a query.
type Param struct {
	Name string
	Type ParamType
	// Required refuses a request without it ("<name> is required").
	Required bool
	// Default is an absent Integer's value.
	Default int64
	// Min and Max bound an Integer when either is set.
	Min, Max int64
	// MaxLen bounds a String's length in bytes when set.
	MaxLen int
	// ID checks a String as an aggregate id ([A-Za-z0-9_-]{1,128}).
	ID bool
}

// Numeric reports whether the parameter travels as a JSON number (the
// gateway sends it so).
func (p Param) Numeric() bool { return p.Type == Integer }

// Params are the decoded, checked parameters of one request.
type Params struct {
	ints map[string]int64
	strs map[string]string
}

// Int returns an Integer parameter (its Default when absent).
func (p Params) Int(name string) int64 { return p.ints[name] }

// String returns a String parameter ("" when absent).
func (p Params) String(name string) string { return p.strs[name] }

// Has reports whether the request gave the parameter.
func (p Params) Has(name string) bool {
	_, i := p.ints[name]
	_, s := p.strs[name]
	return i || s
}

// Decode checks raw parameters (a JSON object, without min_sequence and
// wait_ms) against the query's declared ones, as the reader does for a
// request: for tests and Go callers that run Read themselves.
func (q Query) Decode(raw json.RawMessage) (Params, error) { return decodeParams(raw, q.Params) }

// Invalid returns an error that answers 400 bad_request with message.
func Invalid(format string, args ...any) error { return badRequest(format, args...) }

// decodeParams checks raw (a JSON object of the query's own parameters)
// against the declared ones.
func decodeParams(raw json.RawMessage, declared []Param) (Params, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Params{}, badRequest("bad parameters: %v", err)
	}
	byName := make(map[string]Param, len(declared))
	for _, d := range declared {
		byName[d.Name] = d
	}
	for name := range fields {
		if _, ok := byName[name]; !ok {
			return Params{}, badRequest("bad parameters: json: unknown field %q", name)
		}
	}
	out := Params{ints: map[string]int64{}, strs: map[string]string{}}
	for _, d := range declared {
		v, given := fields[d.Name]
		if !given || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			if d.Required {
				return Params{}, badRequest("%s is required", d.Name)
			}
			if d.Type == Integer {
				out.ints[d.Name] = d.Default
			}
			continue
		}
		switch d.Type {
		case Integer:
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return Params{}, badRequest("parameter %q has the wrong type (got JSON %s, want an integer)", d.Name, jsonKind(v))
			}
			if (d.Min != 0 || d.Max != 0) && (n < d.Min || n > d.Max) {
				return Params{}, badRequest("%s must be between %d and %d, got %d", d.Name, d.Min, d.Max, n)
			}
			out.ints[d.Name] = n
		case String:
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return Params{}, badRequest("parameter %q has the wrong type (got JSON %s, want a string)", d.Name, jsonKind(v))
			}
			if d.Required && s == "" {
				return Params{}, badRequest("%s is required", d.Name)
			}
			if d.MaxLen > 0 && len(s) > d.MaxLen {
				return Params{}, badRequest("%s must be at most %d bytes, got %d", d.Name, d.MaxLen, len(s))
			}
			if d.ID && s != "" {
				if err := streams.ValidateID(s); err != nil {
					return Params{}, badRequest("%s: %v", d.Name, err)
				}
			}
			out.strs[d.Name] = s
		}
	}
	return out, nil
}

// jsonKind names the JSON type of a raw value, for messages.
func jsonKind(v json.RawMessage) string {
	t := bytes.TrimSpace(v)
	switch {
	case len(t) == 0:
		return "nothing"
	case t[0] == '"':
		return "string"
	case t[0] == '{':
		return "object"
	case t[0] == '[':
		return "array"
	case t[0] == 't' || t[0] == 'f':
		return "bool"
	default:
		return "number"
	}
}

// errReadRetries bounds how often a query runs again after a rebuild
// switched generation under it.
const readRetries = 3

// runQuery reads q's answer with a fresh View, again when a rebuild switched
// the generation during the read.
func (r *Reader) runQuery(ctx context.Context, q Query, p Params) (any, uint64, error) {
	for attempt := 1; ; attempt++ {
		v, err := r.views.View(ctx, q.Projection)
		if err != nil {
			return nil, 0, err
		}
		data, err := q.Read(ctx, v, p)
		if errors.Is(err, projections.ErrGenerationSwitched) && attempt < readRetries {
			continue
		}
		return data, v.Checkpoint(), err
	}
}
