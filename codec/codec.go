// Package codec is the registry of event types: it maps a Go type to its
// past-tense event name and payload schema version, encodes payloads as JSON,
// and decodes stored payloads back into Go values, upcasting old schema
// versions to the current one on the way so stored events never need
// rewriting.
//
// Registration also declares which top-level fields of a payload hold
// personal data (WithPersonal) and which event type forgets its aggregate
// (Forgets): Encode hands both to the writer, and the event store seals the
// fields with a key of the aggregate that forgetting deletes. The codec
// itself encrypts nothing.
//
// A Registry is built explicitly (no global state) and is safe for concurrent
// use once built. It imports nothing of NATS or Redis, so domain packages can
// use it freely.
package codec

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"unicode"
	"unicode/utf8"
)

// DefaultSchema is the schema version of an event type registered without
// WithSchema.
const DefaultSchema = 1

// Errors callers branch on.
var (
	// ErrUnknownType means a payload's event type name was never registered.
	ErrUnknownType = errors.New("codec: unknown event type")
	// ErrUnregistered means a Go value's type was never registered.
	ErrUnregistered = errors.New("codec: Go type not registered as an event")
	// ErrNoUpcaster means a stored payload has an old schema version and no
	// upcaster leads from it to the current one.
	ErrNoUpcaster = errors.New("codec: no upcaster for schema version")
)

// Upcaster rewrites a payload of schema version From into version From+1.
type Upcaster struct {
	From int
	Up   func(json.RawMessage) (json.RawMessage, error)
}

// WithPersonal declares the top-level JSON fields of the event type's
// payload that hold personal data (e.g. "username", "password_hash"). The
// event store seals them with a key of the aggregate they belong to, so that
// forgetting the aggregate (an event type registered with Forgets) makes
// them unreadable for ever; see package shred for the wire format.
func WithPersonal(fields ...string) Option {
	return func(e *entry) { e.personal = append(e.personal, fields...) }
}

// WithSecret declares the top-level JSON fields of the event type's payload
// that hold secrets (e.g. "password_hash"): operators' tools (package admin,
// the jetsource CLI, the event browser) show them as "[redacted]", in the
// event and in the aggregate's state (a state field of the same JSON name).
// The stored event keeps them: commands need them. Declare a field personal
// too if forgetting the aggregate must make it unreadable.
func WithSecret(fields ...string) Option {
	return func(e *entry) { e.secret = append(e.secret, fields...) }
}

// Forgets declares that an event of this type forgets its aggregate's
// personal data: once it is stored, the aggregate's key is deleted, and the
// fields declared WithPersonal of its earlier events read as forgotten
// (JSON null, the zero value of their Go type) everywhere. An event that
// forgets must itself hold no personal data.
func Forgets() Option { return func(e *entry) { e.forgets = true } }

// Option configures one registered event type.
type Option func(*entry)

// WithSchema sets the current schema version of the event type's payload.
func WithSchema(v int) Option { return func(e *entry) { e.schema = v } }

// WithUpcaster adds an upcaster from schema version from to from+1.
func WithUpcaster(from int, up func(json.RawMessage) (json.RawMessage, error)) Option {
	return func(e *entry) { e.upcasters[from] = up }
}

type entry struct {
	name      string
	schema    int
	upcasters map[int]func(json.RawMessage) (json.RawMessage, error)
	decode    func([]byte) (any, error)
	personal  []string
	secret    []string
	forgets   bool
	// whole is PlainFields' of the Go type, stringFields the indexes of
	// its string fields.
	whole        bool
	stringFields []int
}

// roundTrips reports whether event, a value of the entry's Go type,
// decodes back from its encoding to an equal value.
func (e *entry) roundTrips(event any) bool {
	if !e.whole {
		return false
	}
	v := reflect.ValueOf(event)
	for _, i := range e.stringFields {
		if !utf8.ValidString(v.Field(i).String()) {
			return false
		}
	}
	return true
}

// Registry maps event names to Go types and back.
type Registry struct {
	byName map[string]*entry
	byType map[reflect.Type]*entry
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byName: map[string]*entry{}, byType: map[reflect.Type]*entry{}}
}

// Register adds event type E under name, which must be a past-tense
// PascalCase name such as MoneyDeposited. It panics on a programming error
// (an invalid or duplicate name), since registries are built at start-up.
func Register[E any](r *Registry, name string, opts ...Option) {
	if err := ValidateName(name); err != nil {
		panic(err)
	}
	if _, dup := r.byName[name]; dup {
		panic(fmt.Sprintf("codec: event type %q registered twice", name))
	}
	t := reflect.TypeFor[E]()
	if _, dup := r.byType[t]; dup {
		panic(fmt.Sprintf("codec: Go type %v registered twice", t))
	}
	e := &entry{
		name:      name,
		schema:    DefaultSchema,
		upcasters: map[int]func(json.RawMessage) (json.RawMessage, error){},
		decode: func(b []byte) (any, error) {
			var v E
			if err := json.Unmarshal(b, &v); err != nil {
				return nil, err
			}
			return v, nil
		},
	}
	var fields []PlainField
	fields, _, e.whole = PlainFields(t)
	for _, f := range fields {
		if f.Kind == reflect.String {
			e.stringFields = append(e.stringFields, f.Index)
		}
	}
	for _, o := range opts {
		o(e)
	}
	if e.schema < 1 {
		panic(fmt.Sprintf("codec: event type %q: schema version must be >= 1", name))
	}
	if e.forgets && len(e.personal) > 0 {
		panic(fmt.Sprintf("codec: event type %q forgets its aggregate and cannot hold personal data itself", name))
	}
	for _, f := range e.personal {
		if f == "" {
			panic(fmt.Sprintf("codec: event type %q: a personal field name is empty", name))
		}
	}
	r.byName[name] = e
	r.byType[t] = e
}

// ValidateName checks that name looks like an event type: PascalCase letters
// and digits, 1 to 128 characters. Past tense cannot be checked by a machine;
// it is a convention the names of the sample domains follow.
func ValidateName(name string) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("codec: event type name %q must be 1 to 128 characters", name)
	}
	for i, c := range name {
		if c > unicode.MaxASCII || !(unicode.IsLetter(c) || unicode.IsDigit(c)) {
			return fmt.Errorf("codec: event type name %q: only ASCII letters and digits are allowed", name)
		}
		if i == 0 && !unicode.IsUpper(c) {
			return fmt.Errorf("codec: event type name %q must start with an upper-case letter", name)
		}
	}
	return nil
}

// Encoded is an event ready to be stored: its name, schema version and JSON
// payload, the payload's fields that hold personal data, and whether it
// forgets its aggregate.
type Encoded struct {
	Type   string
	Schema int
	Data   []byte
	// Personal names the top-level fields of Data to seal (WithPersonal).
	Personal []string
	// Forgets is set for an event type registered with Forgets.
	Forgets bool
	// RoundTrips is set when Decode of Data gives back a value equal to the
	// event encoded: its Go type is a struct whose every field is a plain
	// one encoded as it is (see PlainFields), and its strings are valid
	// UTF-8. A caller that holds the event may then use it in place of
	// decoding Data.
	RoundTrips bool
}

// Encode turns a registered event value into its stored form.
func (r *Registry) Encode(event any) (Encoded, error) {
	e, ok := r.byType[reflect.TypeOf(event)]
	if !ok {
		return Encoded{}, fmt.Errorf("%w: %T", ErrUnregistered, event)
	}
	b, err := json.Marshal(event)
	if err != nil {
		return Encoded{}, fmt.Errorf("codec: encode %s: %w", e.name, err)
	}
	return Encoded{Type: e.name, Schema: e.schema, Data: b, Personal: e.personal, Forgets: e.forgets,
		RoundTrips: e.roundTrips(event)}, nil
}

// Personal returns the personal fields of event type name (nil when it has
// none or is unknown).
func (r *Registry) Personal(name string) []string {
	if e, ok := r.byName[name]; ok {
		return e.personal
	}
	return nil
}

// Secret returns the secret fields of event type name (nil when it has none
// or is unknown).
func (r *Registry) Secret(name string) []string {
	if e, ok := r.byName[name]; ok {
		return e.secret
	}
	return nil
}

// Secrets returns the secret fields of every event type of the registry,
// each name once, sorted.
func (r *Registry) Secrets() []string {
	var out []string
	for _, e := range r.byName {
		for _, f := range e.secret {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Forgets reports whether event type name forgets its aggregate.
func (r *Registry) Forgets(name string) bool {
	e, ok := r.byName[name]
	return ok && e.forgets
}

// Name returns the registered event name of a value, or "" when its type is
// not registered.
func (r *Registry) Name(event any) string {
	if e, ok := r.byType[reflect.TypeOf(event)]; ok {
		return e.name
	}
	return ""
}

// Known reports whether name is a registered event type.
func (r *Registry) Known(name string) bool {
	_, ok := r.byName[name]
	return ok
}

// Decode turns a stored payload of event type name at schema version schema
// into the registered Go value, upcasting it first when schema is older than
// the current version.
func (r *Registry) Decode(name string, schema int, data []byte) (any, error) {
	e, ok := r.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, name)
	}
	if schema == 0 {
		schema = DefaultSchema
	}
	if schema > e.schema {
		return nil, fmt.Errorf("codec: %s schema version %d is newer than this program knows (%d)", name, schema, e.schema)
	}
	for v := schema; v < e.schema; v++ {
		up, ok := e.upcasters[v]
		if !ok {
			return nil, fmt.Errorf("%w: %s from %d to %d", ErrNoUpcaster, name, v, v+1)
		}
		out, err := up(data)
		if err != nil {
			return nil, fmt.Errorf("codec: upcast %s from schema %d: %w", name, v, err)
		}
		data = out
	}
	v, err := e.decode(data)
	if err != nil {
		return nil, fmt.Errorf("codec: decode %s (schema %d): %w", name, e.schema, err)
	}
	return v, nil
}
