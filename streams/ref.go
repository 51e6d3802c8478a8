package streams

import (
	"fmt"
	"regexp"

	"github.com/jetsource/jetsource/aggregate"
)

// SubjectPrefix is the first token of every event subject.
const SubjectPrefix = "events"

// MaxIDLength is the longest aggregate id accepted.
const MaxIDLength = 128

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// Ref names one aggregate: its type and id, both validated. The zero Ref is
// invalid; make one with NewRef.
type Ref struct {
	typ string
	id  string
}

// NewRef validates an aggregate type and id and returns their Ref, or an
// *InvalidRefError naming the bad value.
func NewRef(typ, id string) (Ref, error) {
	if err := aggregate.ValidateType(typ); err != nil {
		return Ref{}, &InvalidRefError{Field: "type", Value: typ, Reason: "must match [a-z][a-z0-9_]{0,63}"}
	}
	if err := ValidateID(id); err != nil {
		return Ref{}, err
	}
	return Ref{typ: typ, id: id}, nil
}

// ValidateID checks an aggregate id against [A-Za-z0-9_-]{1,128}.
func ValidateID(id string) error {
	switch {
	case id == "":
		return &InvalidRefError{Field: "id", Value: id, Reason: "must not be empty"}
	case len(id) > MaxIDLength:
		return &InvalidRefError{Field: "id", Value: id, Reason: fmt.Sprintf("must be at most %d characters, got %d", MaxIDLength, len(id))}
	case !idPattern.MatchString(id):
		return &InvalidRefError{Field: "id", Value: id, Reason: "may hold only ASCII letters, digits, '_' and '-'"}
	}
	return nil
}

// Type is the aggregate type, e.g. "account".
func (r Ref) Type() string { return r.typ }

// ID is the aggregate id.
func (r Ref) ID() string { return r.id }

// Subject is the aggregate's subject, events.<type>.<id>.
func (r Ref) Subject() string { return SubjectPrefix + "." + r.typ + "." + r.id }

// Key is the aggregate's key in key-value buckets, <type>.<id>.
func (r Ref) Key() string { return r.typ + "." + r.id }

// IsZero reports whether r is the zero (invalid) Ref.
func (r Ref) IsZero() bool { return r.typ == "" }

// String returns type/id, as used in error messages.
func (r Ref) String() string { return r.typ + "/" + r.id }

// ParseSubject returns the Ref of an event subject events.<type>.<id>.
func ParseSubject(subject string) (Ref, error) {
	const prefix = SubjectPrefix + "."
	if len(subject) <= len(prefix) || subject[:len(prefix)] != prefix {
		return Ref{}, &InvalidRefError{Field: "subject", Value: subject, Reason: "must start with " + prefix}
	}
	rest := subject[len(prefix):]
	for i := 0; i < len(rest); i++ {
		if rest[i] == '.' {
			return NewRef(rest[:i], rest[i+1:])
		}
	}
	return Ref{}, &InvalidRefError{Field: "subject", Value: subject, Reason: "must be events.<type>.<id>"}
}
