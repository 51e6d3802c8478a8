package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// VoidType is the type of the platform's correction event: EventVoided
// voids one event of the same aggregate that breaks its version sequence (a
// forged or repeated Es-Version), which the stream cannot delete. Loads and
// projections skip the voided event; the correction itself carries the next
// version, so the aggregate's history reads 1, 2, 3 … again, and it is
// recorded for ever, as any event is.
const VoidType = "EventVoided"

// Void is the payload of an EventVoided.
type Void struct {
	// Sequence is the stream sequence of the voided event.
	Sequence Sequence `json:"sequence"`
	// Reason says why, for the people who read the history later.
	Reason string `json:"reason"`
}

// ErrBrokenHistory means an aggregate's events break its version sequence
// (an event was forged or repeated): nothing is decided on it until an admin
// voids the offending event (Store.VoidEvent).
var ErrBrokenHistory = errors.New("the aggregate's history breaks its version sequence")

// BrokenHistoryError names the event that breaks an aggregate's history.
type BrokenHistoryError struct {
	Ref      Ref
	Sequence Sequence
	Type     string
	// Got is the event's version; Want the one that follows the history.
	Got, Want Version
}

func (e *BrokenHistoryError) Error() string {
	return fmt.Sprintf("%s: event %s at sequence %d has version %d, but the history calls for version %d; "+
		"void it with a correction (jetsource void %s %s %d)", e.Ref, e.Type, e.Sequence, e.Got, e.Want,
		e.Ref.Type(), e.Ref.ID(), e.Sequence)
}

// Unwrap makes errors.Is(err, ErrBrokenHistory) and ErrCorruptEvent true.
func (e *BrokenHistoryError) Unwrap() []error { return []error{ErrBrokenHistory, ErrCorruptEvent} }

// voidOf returns the sequence an EventVoided voids.
func voidOf(r Recorded) (Sequence, bool) {
	if r.Type != VoidType {
		return 0, false
	}
	var v Void
	if json.Unmarshal(r.Data, &v) != nil || v.Sequence == 0 {
		return 0, false
	}
	return v.Sequence, true
}

// VoidEvent appends the correction that voids the event at sequence seq of
// ref, which must break ref's version sequence: a valid event is corrected
// by a domain event (a compensating MoneyWithdrawn …), never voided. The
// stream stays append-only: the voided event stays, and so does the reason.
func (s *Store) VoidEvent(ctx context.Context, ref Ref, seq Sequence, reason string) (Appended, error) {
	if reason == "" {
		return Appended{}, fmt.Errorf("void %s sequence %d: %w: a reason is required", ref, seq, ErrInvalidEvent)
	}
	var last Recorded
	var broken *BrokenHistoryError
	for r, err := range s.Read(ctx, ref, Position{}, Until{}) {
		if errors.As(err, &broken) {
			break
		}
		if err != nil {
			return Appended{}, fmt.Errorf("void %s sequence %d: %w", ref, seq, err)
		}
		last = r
	}
	if broken == nil || broken.Sequence != seq {
		return Appended{}, fmt.Errorf("void %s sequence %d: %w: only an event that breaks the version sequence can be voided (the first such event of %s is %s)",
			ref, seq, ErrInvalidEvent, ref, describeBroken(broken))
	}
	head, err := s.LeaderSequence(ctx, ref)
	if err != nil {
		return Appended{}, err
	}
	data, _ := json.Marshal(Void{Sequence: seq, Reason: reason})
	// The correction follows the last valid version, and expects the stream's
	// real last event of the subject (the broken one, or later ones).
	return s.Append(ctx, ref, Position{Version: last.Version, Sequence: head},
		[]Event{{Type: VoidType, Data: data, ID: "void-" + ref.Subject() + "-" + strconv.FormatUint(uint64(seq), 10)}})
}

func describeBroken(b *BrokenHistoryError) string {
	if b == nil {
		return "none: its history is whole"
	}
	return fmt.Sprintf("at sequence %d", b.Sequence)
}
