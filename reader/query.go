package reader

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/valyala/fastjson"

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
	// and for Also (of a partitioned projection, a query with a required
	// ID parameter waits only for the partition of aggregate <Model>/<id>).
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
	declared []Param
	values   []paramValue // one per declared parameter, in order
}

// paramValue is the value of one declared parameter in a request.
type paramValue struct {
	given bool
	n     int64
	s     string
}

func (p Params) value(name string) paramValue {
	for i, d := range p.declared {
		if d.Name == name {
			return p.values[i]
		}
	}
	return paramValue{}
}

// Int returns an Integer parameter (its Default when absent).
func (p Params) Int(name string) int64 { return p.value(name).n }

// String returns a String parameter ("" when absent).
func (p Params) String(name string) string { return p.value(name).s }

// Has reports whether the request gave the parameter.
func (p Params) Has(name string) bool { return p.value(name).given }

// Decode checks raw parameters (a JSON object, without min_sequence and
// wait_ms) against the query's declared ones, as the reader does for a
// request: for tests and Go callers that run Read themselves.
func (q Query) Decode(raw json.RawMessage) (Params, error) {
	_, p, err := decodeRequest(raw, q.Params, nil)
	return p, err
}

// Invalid returns an error that answers 400 bad_request with message.
func Invalid(format string, args ...any) error { return badRequest(format, args...) }

// parsers parse requests without reflection, reusing their memory.
var parsers fastjson.ParserPool

// envelopeLimits are the reader's bounds of wait_ms; decodeRequest reads
// min_sequence and wait_ms only when it is given them.
type envelopeLimits struct{ defaultWait, maxWait time.Duration }

// decodeRequest decodes a request body (a JSON object) without
// reflection: with limits, min_sequence and wait_ms into the Envelope (its
// Params unset), and the rest checked against the declared parameters.
func decodeRequest(body []byte, declared []Param, limits *envelopeLimits) (Envelope, Params, error) {
	parser := parsers.Get()
	defer parsers.Put(parser)
	obj, err := parseObject(parser, body)
	if err != nil {
		return Envelope{}, Params{}, err
	}
	var env Envelope
	if limits != nil {
		if env, err = readEnvelope(obj, *limits); err != nil {
			return env, Params{}, err
		}
	}
	var (
		given         = make([]*fastjson.Value, len(declared))
		unknown       string
		unknownExists bool
	)
	obj.Visit(func(key []byte, v *fastjson.Value) {
		if limits != nil && isEnvelopeField(key) {
			return
		}
		for i, d := range declared {
			if d.Name == string(key) {
				given[i] = v
				return
			}
		}
		if !unknownExists {
			unknown, unknownExists = string(key), true
		}
	})
	if unknownExists {
		return env, Params{}, badRequest("bad parameters: json: unknown field %q", unknown)
	}
	params, err := checkParams(declared, given)
	return env, params, err
}

// parseObject parses body, which must be a JSON object (empty means {}).
func parseObject(parser *fastjson.Parser, body []byte) (*fastjson.Object, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		trimmed = []byte("{}")
	}
	if trimmed[0] != '{' {
		return nil, badRequest("query parameters must be a JSON object")
	}
	// fastjson is lenient (it takes "." for a number): the strict check of
	// encoding/json's scanner first, which uses no reflection.
	if !json.Valid(trimmed) {
		var raw json.RawMessage
		return nil, badRequest("malformed query: %v", json.Unmarshal(trimmed, &raw))
	}
	v, err := parser.ParseBytes(trimmed)
	if err != nil {
		return nil, badRequest("malformed query: %v", err)
	}
	obj, err := v.Object()
	if err != nil {
		return nil, badRequest("query parameters must be a JSON object")
	}
	return obj, nil
}

func isEnvelopeField(key []byte) bool {
	return string(key) == "min_sequence" || string(key) == "wait_ms"
}

// readEnvelope reads min_sequence and wait_ms of a request.
func readEnvelope(obj *fastjson.Object, limits envelopeLimits) (Envelope, error) {
	env := Envelope{Wait: limits.defaultWait}
	var err error
	obj.Visit(func(key []byte, v *fastjson.Value) {
		switch string(key) {
		case "min_sequence":
			if v.Type() == fastjson.TypeString {
				stream, seq, perr := streams.ParsePosition(string(v.GetStringBytes()))
				if perr != nil {
					err = cmp.Or(err, error(badRequest("min_sequence must be a non-negative integer or a position \"<stream>:<sequence>\": %v", perr)))
				}
				env.MinStream, env.MinSequence = stream, uint64(seq)
				return
			}
			n, ok := jsonUint(v)
			if !ok {
				err = cmp.Or(err, error(badRequest("min_sequence must be a non-negative integer or a position \"<stream>:<sequence>\"")))
			}
			env.MinSequence = n
		case "wait_ms":
			n, ok := jsonUint(v)
			if !ok || n > uint64(limits.maxWait.Milliseconds()) {
				err = cmp.Or(err, error(badRequest("wait_ms must be an integer from 0 to %d", limits.maxWait.Milliseconds())))
			}
			env.Wait = time.Duration(n) * time.Millisecond
		}
	})
	return env, err
}

// checkParams checks the values given (nil when absent) of the declared
// parameters.
func checkParams(declared []Param, given []*fastjson.Value) (Params, error) {
	out := Params{declared: declared, values: make([]paramValue, len(declared))}
	for i, d := range declared {
		v := given[i]
		if v == nil || v.Type() == fastjson.TypeNull {
			if d.Required {
				return Params{}, badRequest("%s is required", d.Name)
			}
			if d.Type == Integer {
				out.values[i].n = d.Default
			}
			continue
		}
		out.values[i].given = true
		switch d.Type {
		case Integer:
			n, ok := jsonInt(v)
			if !ok {
				return Params{}, badRequest("parameter %q has the wrong type (got JSON %s, want an integer)", d.Name, jsonKind(v))
			}
			if (d.Min != 0 || d.Max != 0) && (n < d.Min || n > d.Max) {
				return Params{}, badRequest("%s must be between %d and %d, got %d", d.Name, d.Min, d.Max, n)
			}
			out.values[i].n = n
		case String:
			b, err := v.StringBytes()
			if err != nil {
				return Params{}, badRequest("parameter %q has the wrong type (got JSON %s, want a string)", d.Name, jsonKind(v))
			}
			s := string(b)
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
			out.values[i].s = s
		}
	}
	return out, nil
}

// jsonInt returns the integer v holds: a JSON number written as an
// integer (no fraction, exponent or '+'), that fits an int64.
func jsonInt(v *fastjson.Value) (int64, bool) {
	var buf [24]byte
	raw := v.MarshalTo(buf[:0])
	if v.Type() != fastjson.TypeNumber || !integerLiteral(raw) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil
}

// jsonUint returns the non-negative integer v holds.
func jsonUint(v *fastjson.Value) (uint64, bool) {
	var buf [24]byte
	raw := v.MarshalTo(buf[:0])
	if v.Type() != fastjson.TypeNumber || !integerLiteral(raw) || raw[0] == '-' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	return n, err == nil
}

// integerLiteral reports whether raw is a JSON integer: -?(0|[1-9][0-9]*).
func integerLiteral(raw []byte) bool {
	digits := bytes.TrimPrefix(raw, []byte("-"))
	if len(digits) == 0 || len(digits) > 1 && digits[0] == '0' {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// jsonKind names the JSON type of a value, for messages.
func jsonKind(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeString:
		return "string"
	case fastjson.TypeObject:
		return "object"
	case fastjson.TypeArray:
		return "array"
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "bool"
	case fastjson.TypeNull:
		return "null"
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

// aggregateID is the id of the one aggregate (of type Model) a query reads,
// its first required ID parameter; "" when it has none.
func (q Query) aggregateID(p Params) string {
	for _, d := range q.Params {
		if d.ID && d.Required && d.Type == String {
			return p.String(d.Name)
		}
	}
	return ""
}

// partitionsBehind lists what an answer depends on among names, as wait targets
// (projections.ReachedLabel): every projection behind the query, and of a
// partitioned one, only the partition of the aggregate the query reads (a
// query with a required ID parameter reads aggregate <Model>/<id>), or all
// of them for a query that spans aggregates.
func (r *Reader) partitionsBehind(ctx context.Context, q Query, p Params, names []string) ([]string, error) {
	id := q.aggregateID(p)
	if id == "" {
		return names, nil
	}
	out := make([]string, len(names))
	for i, name := range names {
		n, err := projections.Partitions(ctx, r.rdb, name)
		if err != nil {
			return nil, err
		}
		out[i] = projections.PartitionLabel(name, projections.PartitionOfAggregate(q.Model, id, n), n)
	}
	return out, nil
}
