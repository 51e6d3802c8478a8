package streams

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrConflict means another writer appended to the aggregate since the
	// caller's expected position. Reload and decide again.
	ErrConflict = errors.New("concurrency conflict")
	// ErrUnavailable means the event store could not be reached or did not
	// answer in time. For an append, a timeout leaves the outcome unknown;
	// retrying with the same event ids is safe within the duplicate window.
	ErrUnavailable = errors.New("event store unavailable")
	// ErrInvalidRef means an aggregate type or id was refused.
	ErrInvalidRef = errors.New("invalid aggregate reference")
	// ErrBatchTooLarge means one append held more events than an atomic batch
	// may.
	ErrBatchTooLarge = errors.New("too many events for one atomic append")
	// ErrInvalidEvent means an event to append was malformed.
	ErrInvalidEvent = errors.New("invalid event")
	// ErrDuplicate means the event ids were appended before (within the
	// stream's duplicate window): nothing new was stored.
	ErrDuplicate = errors.New("duplicate event id")
	// ErrServerTooOld means the NATS server lacks features the store needs.
	ErrServerTooOld = errors.New("nats-server too old")
	// ErrIncompatibleStream means an existing stream or bucket has settings
	// that contradict the store's.
	ErrIncompatibleStream = errors.New("incompatible existing stream")
	// ErrCorruptEvent means a stored message lacks the headers of an event.
	ErrCorruptEvent = errors.New("corrupt event")
)

// InvalidRefError names the aggregate type or id that was refused.
type InvalidRefError struct {
	Field  string // "type", "id" or "subject"
	Value  string
	Reason string
}

func (e *InvalidRefError) Error() string {
	return fmt.Sprintf("invalid aggregate %s %s: %s", e.Field, strconv.QuoteToASCII(truncate(e.Value)), e.Reason)
}

// Is makes errors.Is(err, ErrInvalidRef) true.
func (e *InvalidRefError) Is(target error) bool { return target == ErrInvalidRef }

// ConflictError is an optimistic concurrency conflict: the caller expected the
// aggregate at Expected, but it stands at Actual.
type ConflictError struct {
	Ref      Ref
	Expected Position
	// Actual is where the aggregate stood when the append was refused, when
	// it could be read (its zero value otherwise).
	Actual Position
}

func (e *ConflictError) Error() string {
	if e.Actual == (Position{}) && e.Expected != (Position{}) {
		return fmt.Sprintf("append %s: %v: expected version %d (sequence %d), another writer got there first",
			e.Ref, ErrConflict, e.Expected.Version, e.Expected.Sequence)
	}
	return fmt.Sprintf("append %s: %v: expected version %d (sequence %d), actual version %d (sequence %d)",
		e.Ref, ErrConflict, e.Expected.Version, e.Expected.Sequence, e.Actual.Version, e.Actual.Sequence)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// truncate keeps hostile values from flooding error messages.
func truncate(s string) string {
	const maxShown = 160
	if len(s) > maxShown {
		return s[:maxShown] + "…"
	}
	return s
}
