// Package text holds the field checks the sample domains share: names and
// positive quantities, with messages that name the field and the value.
package text

import (
	"regexp"
	"unicode"
	"unicode/utf8"

	"github.com/jetsource/jetsource/aggregate"
)

// CheckName checks a human-readable name: present, valid UTF-8, no control
// characters, at most max characters.
func CheckName(field, v string, max int) error {
	switch {
	case v == "":
		return aggregate.Invalid("%s is required", field)
	case !utf8.ValidString(v):
		return aggregate.Invalid("%s must be valid UTF-8", field)
	case utf8.RuneCountInString(v) > max:
		return aggregate.Invalid("%s must be at most %d characters, got %d", field, max, utf8.RuneCountInString(v))
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return aggregate.Invalid("%s must not contain control characters", field)
		}
	}
	return nil
}

// CheckPositive checks that a quantity or amount is a positive integer.
func CheckPositive(field string, v int64) error {
	if v <= 0 {
		return aggregate.Invalid("%s must be a positive integer, got %d", field, v)
	}
	return nil
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// CheckID checks an identifier against [A-Za-z0-9_-]{1,128}.
func CheckID(field, v string) error {
	if !idPattern.MatchString(v) {
		return aggregate.Invalid("%s must match [A-Za-z0-9_-]{1,128}, got %q", field, v)
	}
	return nil
}
