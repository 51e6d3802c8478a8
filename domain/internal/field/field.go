// Package field holds the input checks the sample domains share: names,
// identifiers and positive quantities. Every failure is an aggregate.Invalid
// error whose message names the field and, where it is safe to echo, the
// value (shortened, so a megabyte of input never becomes a megabyte of error).
package field

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jetsource/jetsource/aggregate"
)

// maxQuoted is the longest part of a bad value an error message repeats.
const maxQuoted = 64

// Name checks a name meant for people: present, not blank, valid UTF-8, at
// most max characters (runes) and free of control characters.
func Name(name, v string, max int) error {
	switch {
	case v == "":
		return aggregate.Invalid("%s is required", name)
	case !utf8.ValidString(v):
		return aggregate.Invalid("%s must be valid UTF-8", name)
	case utf8.RuneCountInString(v) > max:
		return aggregate.Invalid("%s must be at most %d characters, got %d", name, max, utf8.RuneCountInString(v))
	case strings.TrimSpace(v) == "":
		return aggregate.Invalid("%s must not be blank", name)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return aggregate.Invalid("%s must not contain control characters, got %s", name, Quote(v))
		}
	}
	return nil
}

// Positive checks that an amount or quantity is a positive integer.
func Positive(name string, v int64) error {
	if v <= 0 {
		return aggregate.Invalid("%s must be a positive integer, got %d", name, v)
	}
	return nil
}

// idPattern is the grammar of identifiers, the same as aggregate ids.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// ID checks an identifier against [A-Za-z0-9_-]{1,128}.
func ID(name, v string) error {
	if v == "" {
		return aggregate.Invalid("%s is required", name)
	}
	if !idPattern.MatchString(v) {
		return aggregate.Invalid("%s must be 1 to 128 characters of A-Z, a-z, 0-9, '_' and '-', got %s", name, Quote(v))
	}
	return nil
}

// Quote returns v as a Go-quoted string for an error message, cut to its
// first maxQuoted characters (with an ellipsis) when longer.
func Quote(v string) string {
	if utf8.RuneCountInString(v) <= maxQuoted {
		return fmt.Sprintf("%q", v)
	}
	n := 0
	for i := range v {
		if n == maxQuoted {
			return fmt.Sprintf("%q…", v[:i])
		}
		n++
	}
	return fmt.Sprintf("%q", v)
}
