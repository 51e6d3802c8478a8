package streams

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/shred"
)

// The personal data of an aggregate is sealed with a key of its own, kept in
// the store's key bucket under the aggregate's key (<type>.<id>): the
// aggregate is the data subject. Forgetting it deletes that key.

// seal replaces the data of the messages whose events name personal fields
// with the data sealed with the aggregate's key. The records the caller gets
// back keep the plain data.
func (s *Store) seal(ctx context.Context, ref Ref, events []Event, msgs []*nats.Msg) error {
	for i, e := range events {
		if len(e.Personal) == 0 {
			continue
		}
		data, err := s.keys.Seal(ctx, ref.Key(), e.Type, e.Data, e.Personal)
		if err != nil {
			return fmt.Errorf("append %s: event %d (%s): %w", ref, i, e.Type, classifyKeys(err))
		}
		msgs[i].Data = data
	}
	return nil
}

// forgetIfAsked forgets ref after an append that stored an event that
// forgets it. A forget that fails here is logged, not returned (the events
// are stored): loads and projections that meet the event complete it.
func (s *Store) forgetIfAsked(ctx context.Context, ref Ref, events []Event) {
	for _, e := range events {
		if e.Forgets {
			if err := s.Forget(context.WithoutCancel(ctx), ref); err != nil {
				s.log.Warn("aggregate not forgotten yet; the next load or projection of its events completes it",
					"aggregate", ref.String(), "error", err)
			}
			return
		}
	}
}

// Forget forgets the personal data of aggregate ref: it deletes its
// snapshot (which may hold its state in plain) and then its key, after
// which the personal fields of its events read as forgotten (null) in every
// read: Read, Repository.Load, projections. The events themselves stay. It
// is idempotent.
func (s *Store) Forget(ctx context.Context, ref Ref) error {
	ctx, cancel := withTimeout(ctx, s.opts.Timeout)
	defer cancel()
	if err := s.snapshots.Purge(ctx, ref.Key()); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("forget %s: snapshot: %w", ref, classify(err))
	}
	if err := s.keys.Forget(ctx, ref.Key()); err != nil {
		return fmt.Errorf("forget %s: %w", ref, classifyKeys(err))
	}
	return nil
}

// CompleteForget finishes the forget of ref that a stored event recorded,
// when its key is still there (a forget whose deletion failed). It costs one
// read when there is nothing to do.
func (s *Store) CompleteForget(ctx context.Context, ref Ref) error {
	held, err := s.keys.Holds(ctx, ref.Key())
	if err != nil {
		return fmt.Errorf("forget %s: %w", ref, classifyKeys(err))
	}
	if !held {
		return nil
	}
	s.log.Warn("completing the forget of an aggregate whose key was still there", "aggregate", ref.String())
	return s.Forget(ctx, ref)
}

// Unseal opens the personal fields of rec with the store's keys (see the
// function Unseal).
func (s *Store) Unseal(ctx context.Context, rec Recorded) (Recorded, error) {
	return Unseal(ctx, s.keys, rec)
}

// Unseal returns rec with its sealed personal fields opened with the key of
// its aggregate, or, when the aggregate was forgotten, set to null and named
// in rec.Forgotten. A sealed field that does not authenticate is an error
// wrapping ErrCorruptEvent and shred.ErrTampered.
func Unseal(ctx context.Context, keys *shred.Keyring, rec Recorded) (Recorded, error) {
	data, forgotten, err := keys.Open(ctx, rec.Ref.Key(), rec.Type, rec.Data)
	if err != nil {
		if errors.Is(err, shred.ErrTampered) || errors.Is(err, shred.ErrMalformed) {
			return Recorded{}, fmt.Errorf("%w at sequence %d (%s): %w", ErrCorruptEvent, rec.Sequence, rec.Ref.Subject(), err)
		}
		return Recorded{}, fmt.Errorf("open %s at sequence %d: %w", rec.Ref, rec.Sequence, classifyKeys(err))
	}
	rec.Data, rec.Forgotten = data, forgotten
	return rec, nil
}

// classifyKeys makes an unreachable key bucket ErrUnavailable.
func classifyKeys(err error) error {
	if errors.Is(err, shred.ErrKeys) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return classify(err)
}
