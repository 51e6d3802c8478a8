package streams

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/nats-io/nats.go"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// Stored is an event as the stream holds it, with every header of its
// message: what an operator's tool shows.
type Stored struct {
	Recorded
	// Header holds the message's headers as stored.
	Header nats.Header
}

// History yields every event of ref in stream order up to the bound until,
// each with its headers and its personal fields opened (or null, when ref
// was forgotten). Unlike Read, which yields what a load folds, it also
// yields the events that break the version sequence, voided or not, and
// the corrections: it is the aggregate's record as stored, for people who
// debug it. The sequence yields an error as its last element when reading
// fails.
func (s *Store) History(ctx context.Context, ref Ref, until Until) iter.Seq2[Stored, error] {
	return func(yield func(Stored, error) bool) {
		for st, err := range s.stored(ctx, ref, 1) {
			if err == nil && until.reached(st.Recorded) {
				return
			}
			if err == nil {
				st.Recorded, err = Unseal(ctx, s.keys, st.Recorded)
			}
			if !yield(st, err) || err != nil {
				return
			}
		}
	}
}

// stored yields the stored events of ref from sequence start on, in order,
// with their headers, as readStoredBatch fetches them (direct gets: the
// operator's path, where headers matter more than speed), and an error as its last element when reading
// fails.
func (s *Store) stored(ctx context.Context, ref Ref, start Sequence) iter.Seq2[Stored, error] {
	return func(yield func(Stored, error) bool) {
		subject := ref.Subject()
		for {
			batch, done, err := s.readStoredBatch(ctx, ref, subject, start)
			if err != nil {
				yield(Stored{}, err)
				return
			}
			for _, st := range batch {
				start = st.Sequence + 1
				if !yield(st, nil) {
					return
				}
			}
			if done {
				return
			}
		}
	}
}

// readStoredBatch fetches up to ReadBatch events of subject from sequence start.
// done reports that nothing follows them. A read that did not end with the
// server's own answer (events whose Nats-Num-Pending says what is left, or
// its "no messages" status) is an error wrapping ErrUnavailable: the batch
// iterator ends silently when the server does not answer in time, and that
// silence must never read as "no events".
func (s *Store) readStoredBatch(ctx context.Context, ref Ref, subject string, start Sequence) ([]Stored, bool, error) {
	ctx, cancel := withTimeout(ctx, s.opts.Timeout)
	defer cancel()
	msgs, err := jetstreamext.GetBatch(ctx, s.js, s.opts.Stream, s.opts.ReadBatch,
		jetstreamext.GetBatchSeq(uint64(start)), jetstreamext.GetBatchSubject(subject))
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", ref, classifyBatch(err))
	}
	out := make([]Stored, 0, s.opts.ReadBatch)
	pending := ""
	for msg, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			return out, true, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("read %s: %w", ref, classifyBatch(err))
		}
		rec, err := Decode(msg.Subject, Sequence(msg.Sequence), msg.Header, msg.Data)
		if err != nil {
			return nil, false, fmt.Errorf("read %s: %w", ref, err)
		}
		out = append(out, Stored{Recorded: rec, Header: msg.Header})
		pending = headerValue(msg.Header, "Nats-Num-Pending")
	}
	if len(out) == 0 {
		return nil, false, fmt.Errorf("read %s from sequence %d: %w: no answer from the server", ref, start, errIncomplete(ctx))
	}
	// The server counts what is left for the subject as it serves the batch:
	// zero means this batch reached the end. Anything else (a full batch, a
	// batch cut by the server's byte limit, or one cut short by a timeout)
	// is followed by another request from the next sequence, which either
	// answers or fails.
	return out, pending == "0", nil
}
