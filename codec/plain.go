package codec

import (
	"encoding"
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// PlainField is one field of a struct as encoding/json encodes and decodes
// it (see PlainFields).
type PlainField struct {
	// Name is its JSON name.
	Name string
	// Index is its index in the struct.
	Index int
	// Kind is its kind: bool, an integer, a float or string.
	Kind reflect.Kind
	// Quoted is set by the tag option ",string": the value is written as
	// a JSON string.
	Quoted bool
}

// PlainFields describes how encoding/json sees struct type t when every
// field it encodes and decodes is a plain one: not embedded, of a bool,
// integer, float or string kind, without an encoding or decoding method of
// its own, named by a tag of letters, digits and '_' (or by its Go name),
// no two names equal but for case. Then plain is set and fields are those
// fields, in order; each name is the only key encoding/json matches exactly
// to its field, so an object whose members all bear exactly these names has
// no unknown member.
//
// whole is set when, besides, t has no field encoding/json leaves out
// (unexported, or tagged "-"): a value of t then encodes and decodes back
// to an equal value, provided its strings are valid UTF-8 (which
// encoding/json replaces).
func PlainFields(t reflect.Type) (fields []PlainField, plain, whole bool) {
	if t.Kind() != reflect.Struct || codesItself(t) {
		return nil, false, false
	}
	whole = true
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			return nil, false, false
		}
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			whole = false
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		if !plainName.MatchString(name) || codesItself(f.Type) {
			return nil, false, false
		}
		switch f.Type.Kind() {
		case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
			reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		default:
			return nil, false, false
		}
		for _, g := range fields {
			if strings.EqualFold(g.Name, name) {
				return nil, false, false
			}
		}
		quoted := slices.Contains(strings.Split(opts, ","), "string")
		fields = append(fields, PlainField{Name: name, Index: i, Kind: f.Type.Kind(), Quoted: quoted})
	}
	return fields, true, whole
}

// plainName is a JSON name encoding/json takes from a tag as it is.
var plainName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

var (
	jsonMarshaler   = reflect.TypeFor[json.Marshaler]()
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// codesItself reports whether encoding/json leaves the encoding or the
// decoding of t to a method of t (or of *t).
func codesItself(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	for _, m := range []reflect.Type{jsonMarshaler, jsonUnmarshaler, textMarshaler, textUnmarshaler} {
		if t.Implements(m) || p.Implements(m) {
			return true
		}
	}
	return false
}
