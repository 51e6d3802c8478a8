// Package aggregate is the typed, NATS-free way to write an event-sourced
// aggregate: a state type S, commands that decide which events follow from
// (state, command), and an Evolve function that folds one event into the
// state. It has no reflection-based dispatch, no base struct and no global
// registry: a Definition is a plain value the writer is handed.
//
//	def := aggregate.Definition[Counter]{
//		Type:   "counter",
//		Events: events, // a *codec.Registry with Incremented registered
//		Evolve: func(s Counter, e any) Counter {
//			if e, ok := e.(Incremented); ok { s.N += e.By }
//			return s
//		},
//		Commands: map[string]aggregate.Command[Counter]{
//			"create":    aggregate.Create[Counter](func(c Create) ([]any, error) { return []any{Created{}}, nil }),
//			"increment": aggregate.Handle(func(s Counter, c Increment) ([]any, error) { return []any{Incremented{By: c.By}}, nil }),
//		},
//	}
package aggregate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/jetsource/jetsource/codec"
)

// Errors callers branch on. The writer maps them to the wire error codes.
var (
	// ErrInvalid marks a command whose input is malformed or out of range
	// (wire code bad_request).
	ErrInvalid = errors.New("invalid command")
	// ErrRejected marks a command the domain refuses (wire code rejected).
	ErrRejected = errors.New("command rejected")
	// ErrNotFound marks a command on an aggregate that does not exist.
	ErrNotFound = errors.New("aggregate not found")
	// ErrExists marks a creation command on an aggregate that exists.
	ErrExists = errors.New("aggregate already exists")
	// ErrUnknownCommand marks a command name the aggregate does not have.
	ErrUnknownCommand = errors.New("unknown command")
)

// Invalid returns an error wrapping ErrInvalid with a message for a person.
func Invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Rejected returns an error wrapping ErrRejected with a message for a person.
func Rejected(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRejected, fmt.Sprintf(format, args...))
}

// Validator is implemented by command types that check their own fields after
// decoding; an error it returns is reported as ErrInvalid.
type Validator interface {
	Validate() error
}

// typeName is the grammar of aggregate types on the wire and in subjects.
var typeName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// ValidateType checks an aggregate type name against [a-z][a-z0-9_]{0,63}.
func ValidateType(t string) error {
	if !typeName.MatchString(t) {
		return fmt.Errorf("aggregate type %q must match [a-z][a-z0-9_]{0,63}", t)
	}
	return nil
}

// Definition describes one aggregate type.
type Definition[S any] struct {
	// Type is the aggregate type, the <type> of events.<type>.<id> and
	// cmd.<type>.<command>.
	Type string
	// Initial returns the state of an aggregate before its first event. Nil
	// means the zero value of S.
	Initial func() S
	// Evolve folds one decoded event into the state. It must be pure and
	// total: an event already stored is a fact and cannot be refused.
	Evolve func(state S, event any) S
	// Events is the codec registry of the aggregate's event types.
	Events *codec.Registry
	// Commands maps command names (the <command> of cmd.<type>.<command>) to
	// their handlers.
	Commands map[string]Command[S]
	// SnapshotEvery takes a snapshot each time the version crosses a multiple
	// of it; 0 means the store's default, negative means never.
	SnapshotEvery int
	// StateSchema versions the shape of S in snapshots: bump it when S changes
	// incompatibly and older snapshots are ignored.
	StateSchema int
}

// Validate checks a definition for programming errors.
func (d Definition[S]) Validate() error {
	var errs []error
	if err := ValidateType(d.Type); err != nil {
		errs = append(errs, err)
	}
	if d.Evolve == nil {
		errs = append(errs, fmt.Errorf("aggregate %s: Evolve is nil", d.Type))
	}
	if d.Events == nil {
		errs = append(errs, fmt.Errorf("aggregate %s: Events registry is nil", d.Type))
	}
	if len(d.Commands) == 0 {
		errs = append(errs, fmt.Errorf("aggregate %s: no commands", d.Type))
	}
	for name, c := range d.Commands {
		if !typeName.MatchString(name) {
			errs = append(errs, fmt.Errorf("aggregate %s: command name %q must match [a-z][a-z0-9_]{0,63}", d.Type, name))
		}
		if c.decide == nil {
			errs = append(errs, fmt.Errorf("aggregate %s: command %q has no handler", d.Type, name))
		}
	}
	return errors.Join(errs...)
}

// New returns the initial state.
func (d Definition[S]) New() S {
	if d.Initial != nil {
		return d.Initial()
	}
	var s S
	return s
}

// Decision is what a command decided: the events to append (possibly none)
// and, for commands that reserve a unique key, that key.
type Decision struct {
	Events []any
	// Unique is a key (e.g. a username) that must belong to this aggregate
	// alone; empty when the command reserves nothing.
	Unique string
	// Release is a unique key this aggregate held that its events give back
	// (e.g. the username of a user who is forgotten); the writer releases
	// it once they are stored. Empty when the command releases nothing.
	Release string
}

// Decide runs command name with its JSON data against state. exists tells
// whether the aggregate has any event yet.
func (d Definition[S]) Decide(name string, state S, exists bool, data json.RawMessage) (Decision, error) {
	c, ok := d.Commands[name]
	if !ok {
		return Decision{}, fmt.Errorf("%w: %s has no command %q", ErrUnknownCommand, d.Type, name)
	}
	if c.creates && exists {
		// The unique key it names goes with the refusal (see command).
		var dec Decision
		if c.unique != nil {
			dec.Unique = c.unique(data)
		}
		return dec, fmt.Errorf("%w: %s", ErrExists, d.Type)
	}
	if !c.creates && !exists {
		return Decision{}, fmt.Errorf("%w: %s", ErrNotFound, d.Type)
	}
	return c.decide(state, data)
}

// Creates reports whether command name creates the aggregate.
func (d Definition[S]) Creates(name string) bool { return d.Commands[name].creates }

// Command is one command handler of an aggregate of state S. Build it with
// Create or Handle.
type Command[S any] struct {
	creates bool
	decide  func(S, json.RawMessage) (Decision, error)
	// unique names the command's unique key from its data alone (decoding,
	// no decision), or is nil.
	unique func(json.RawMessage) string
}

// CommandOption configures a command whose input type is C.
type CommandOption[C any] func(*commandOptions[C])

type commandOptions[C any] struct{ unique func(C) string }

// Unique declares that the command claims a key that no other aggregate of
// the type may hold (e.g. a username); the writer reserves it race-free
// before appending.
func Unique[C any](key func(C) string) CommandOption[C] {
	return func(o *commandOptions[C]) { o.unique = key }
}

// Create declares a command that creates the aggregate: it is refused with
// ErrExists when the aggregate already has events.
func Create[S, C any](decide func(C) ([]any, error), opts ...CommandOption[C]) Command[S] {
	c := command[S](func(_ S, cmd C) ([]any, error) { return decide(cmd) }, opts)
	c.creates = true
	return c
}

// Releasing returns the command that gives back the unique key its
// aggregate holds, key(state) as the state was before the command, whenever
// it appends events: the writer deletes the reservation once they are
// stored, so that another aggregate may claim the key (a forgotten user's
// username).
func (c Command[S]) Releasing(key func(S) string) Command[S] {
	decide := c.decide
	c.decide = func(s S, data json.RawMessage) (Decision, error) {
		dec, err := decide(s, data)
		if err == nil && len(dec.Events) > 0 {
			dec.Release = key(s)
		}
		return dec, err
	}
	return c
}

// Handle declares a command on an existing aggregate: it is refused with
// ErrNotFound when the aggregate has no events.
func Handle[S, C any](decide func(S, C) ([]any, error), opts ...CommandOption[C]) Command[S] {
	return command(decide, opts)
}

func command[S, C any](decide func(S, C) ([]any, error), opts []CommandOption[C]) Command[S] {
	var o commandOptions[C]
	for _, opt := range opts {
		opt(&o)
	}
	var unique func(json.RawMessage) string
	if o.unique != nil {
		unique = func(data json.RawMessage) string {
			cmd, err := DecodeCommand[C](data)
			if err != nil {
				return ""
			}
			return o.unique(cmd)
		}
	}
	return Command[S]{unique: unique, decide: func(s S, data json.RawMessage) (Decision, error) {
		cmd, err := DecodeCommand[C](data)
		if err != nil {
			return Decision{}, err
		}
		events, err := decide(s, cmd)
		var dec Decision
		if o.unique != nil {
			// Named on a refusal too: the writer gives back a reservation
			// an earlier attempt of the same command left behind.
			dec.Unique = o.unique(cmd)
		}
		if err != nil {
			return dec, err
		}
		dec.Events = events
		return dec, nil
	}}
}

// DecodeCommand strictly decodes a command's JSON data into C: unknown
// fields, trailing data and ill-typed values are ErrInvalid with a message
// naming the problem; an absent or null data decodes to the zero C. C's
// Validate method runs when it has one.
//
// It runs for every command. When C is a struct of plain fields (see
// codec.PlainFields) and data is an object whose every member names one of
// them exactly and holds a value of its kind written plainly, it is decoded
// in place (see decodePlain), as encoding/json would decode it; any other
// input, and any doubt, goes through the strict decoder, which also words
// the errors.
func DecodeCommand[C any](data json.RawMessage) (C, error) {
	var cmd C
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && !bytes.Equal(trimmed, []byte("null")) {
		if trimmed[0] != '{' {
			return cmd, Invalid("data must be a JSON object")
		}
		if fields, plain := plainFieldsOf(reflect.TypeFor[C]()); !plain || !json.Valid(trimmed) ||
			!decodePlain(trimmed, reflect.ValueOf(&cmd).Elem(), fields) {
			cmd = *new(C)
			if err := decodeStrict(trimmed, &cmd); err != nil {
				return cmd, err
			}
		}
	}
	if v, ok := any(&cmd).(Validator); ok {
		if err := v.Validate(); err != nil {
			if errors.Is(err, ErrInvalid) {
				return cmd, err
			}
			return cmd, fmt.Errorf("%w: %s", ErrInvalid, err.Error())
		}
	} else if v, ok := any(cmd).(Validator); ok {
		if err := v.Validate(); err != nil {
			if errors.Is(err, ErrInvalid) {
				return cmd, err
			}
			return cmd, fmt.Errorf("%w: %s", ErrInvalid, err.Error())
		}
	}
	return cmd, nil
}

// decodeStrict decodes the JSON object obj into cmd refusing unknown fields
// and trailing data.
func decodeStrict[C any](obj []byte, cmd *C) error {
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cmd); err != nil {
		return Invalid("data: %s", describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return Invalid("data: unexpected content after the JSON object")
	}
	return nil
}

// plainFields caches plainFieldsOf by type.
var plainFields sync.Map // reflect.Type -> plainShape

type plainShape struct {
	fields []codec.PlainField
	plain  bool
}

// plainFieldsOf returns codec.PlainFields' fields and plain for t, looked
// up once per type.
func plainFieldsOf(t reflect.Type) ([]codec.PlainField, bool) {
	if v, ok := plainFields.Load(t); ok {
		s := v.(plainShape)
		return s.fields, s.plain
	}
	fields, plain, _ := codec.PlainFields(t)
	plainFields.Store(t, plainShape{fields: fields, plain: plain})
	return fields, plain
}

// decodePlain decodes obj, a JSON object that json.Valid accepted, into v,
// a struct of the plain fields given, as encoding/json decodes it, when
// every member of obj names one of the fields exactly (none can be unknown)
// and holds null or a value of the field's kind written plainly: a string
// without escapes in valid UTF-8 (what encoding/json takes as it is), true
// or false, a number within the field's range (integers without fraction
// or exponent). It returns false on anything else, with v maybe partly set:
// then encoding/json decides.
func decodePlain(obj []byte, v reflect.Value, fields []codec.PlainField) bool {
	i := 1 // past '{'; validity keeps the walk simple: strings end, tokens are well formed
	for {
		i = skipSpace(obj, i)
		switch obj[i] {
		case '}':
			return true
		case ',':
			i = skipSpace(obj, i+1)
		}
		name, end, plain := stringAt(obj, i)
		if !plain {
			return false
		}
		var f *codec.PlainField
		for k := range fields {
			if string(name) == fields[k].Name {
				f = &fields[k]
				break
			}
		}
		if f == nil || f.Quoted {
			return false
		}
		i = skipSpace(obj, end)
		i = skipSpace(obj, i+1) // past ':'
		field := v.Field(f.Index)
		switch c := obj[i]; {
		case c == '"':
			text, end, plain := stringAt(obj, i)
			if !plain || f.Kind != reflect.String || !utf8.Valid(text) {
				return false
			}
			field.SetString(string(text))
			i = end
		case c == '{' || c == '[':
			return false
		default:
			end := i
			for end < len(obj) && !isSpace(obj[end]) && obj[end] != ',' && obj[end] != '}' {
				end++
			}
			if !setLiteral(field, f.Kind, string(obj[i:end])) {
				return false
			}
			i = end
		}
	}
}

// setLiteral sets field, of kind kind, to the JSON literal lit (null, true,
// false or a number), as encoding/json would, or reports false.
func setLiteral(field reflect.Value, kind reflect.Kind, lit string) bool {
	if lit == "null" {
		return true // encoding/json leaves the field as it is
	}
	switch kind {
	case reflect.Bool:
		if lit != "true" && lit != "false" {
			return false
		}
		field.SetBool(lit == "true")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(lit, 10, 64)
		if err != nil || field.OverflowInt(n) {
			return false
		}
		field.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(lit, 10, 64)
		if err != nil || field.OverflowUint(n) {
			return false
		}
		field.SetUint(n)
	case reflect.Float32, reflect.Float64:
		if lit == "true" || lit == "false" {
			return false
		}
		n, err := strconv.ParseFloat(lit, field.Type().Bits())
		if err != nil || field.OverflowFloat(n) {
			return false
		}
		field.SetFloat(n)
	default:
		return false
	}
	return true
}

// stringAt returns the inside of the JSON string that starts at obj[i] and
// the index just past it; plain is false when it holds an escape (and the
// inside is then not its value).
func stringAt(obj []byte, i int) (inside []byte, end int, plain bool) {
	plain = true
	j := i + 1
	for ; obj[j] != '"'; j++ {
		if obj[j] == '\\' {
			plain = false
			j++
		}
	}
	return obj[i+1 : j], j + 1, plain
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// describeJSONError turns encoding/json errors into messages for a person.
func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return fmt.Sprintf("field %q must be %s, got JSON %s", typeErr.Field, describeGoType(typeErr.Type.String()), typeErr.Value)
		}
		return fmt.Sprintf("expected %s, got JSON %s", describeGoType(typeErr.Type.String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	default:
		return err.Error()
	}
}

func describeGoType(t string) string {
	switch t {
	case "int", "int64", "int32", "uint", "uint64", "uint32":
		return "a whole number within range"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	default:
		return t
	}
}
