package streams

import (
	"encoding"
	"encoding/json"
	"hash/fnv"
	"reflect"
	"strconv"
	"strings"
)

// shapeOf fingerprints the JSON shape of S: every field's JSON name and
// kind, down through structs, pointers, slices, arrays and maps (their
// element and key types too), so that renaming the field of an order item
// changes it as surely as renaming a field of the state itself. A type with
// its own JSON or text encoding counts by its name: its encoding is its
// author's to version.
func shapeOf[S any]() string {
	var b strings.Builder
	describeShape(&b, reflect.TypeFor[S](), map[reflect.Type]bool{})
	h := fnv.New64a()
	h.Write([]byte(b.String()))
	return strconv.FormatUint(h.Sum64(), 36)
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// describeShape writes the JSON shape of t; seen guards recursive types.
func describeShape(b *strings.Builder, t reflect.Type, seen map[reflect.Type]bool) {
	if t.Implements(jsonMarshaler) || t.Implements(textMarshaler) ||
		reflect.PointerTo(t).Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
		b.WriteString("custom(" + t.PkgPath() + "." + t.Name() + ")")
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		b.WriteString("*")
		describeShape(b, t.Elem(), seen)
	case reflect.Slice, reflect.Array:
		b.WriteString("[")
		describeShape(b, t.Elem(), seen)
		b.WriteString("]")
	case reflect.Map:
		b.WriteString("map[")
		describeShape(b, t.Key(), seen)
		b.WriteString("]")
		describeShape(b, t.Elem(), seen)
	case reflect.Struct:
		if seen[t] {
			b.WriteString("recursive(" + t.PkgPath() + "." + t.Name() + ")")
			return
		}
		seen[t] = true
		defer delete(seen, t)
		b.WriteString("{")
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous {
				continue
			}
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if name == "" {
				name = f.Name
			}
			b.WriteString(name)
			if opts != "" {
				b.WriteString("," + opts)
			}
			if f.Anonymous && tag == "" {
				b.WriteString("^")
			}
			b.WriteString(":")
			describeShape(b, f.Type, seen)
			b.WriteString(";")
		}
		b.WriteString("}")
	default:
		b.WriteString(t.Kind().String())
	}
}
