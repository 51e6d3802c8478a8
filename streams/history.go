package streams

import (
	"context"
	"iter"

	"github.com/nats-io/nats.go"
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
// with their headers, as readBatch fetches them, and an error as its last
// element when reading fails.
func (s *Store) stored(ctx context.Context, ref Ref, start Sequence) iter.Seq2[Stored, error] {
	return func(yield func(Stored, error) bool) {
		subject := ref.Subject()
		for {
			batch, left, err := s.readBatch(ctx, ref, subject, start, s.opts.ReadBatch)
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
			if left == 0 {
				return
			}
		}
	}
}
