package admin

import (
	"context"
	"fmt"
	"iter"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/streams"
)

// TailSubject is the subject of the events a tail filter selects: ">" (or
// empty) for all, "<type>" for one aggregate type, "<type>.<id>" for one
// aggregate. Anything else is an error: a filter never widens a subject.
func TailSubject(filter string) (string, error) {
	switch filter {
	case "", ">":
		return streams.SubjectPrefix + ".>", nil
	}
	typ, id, withID := strings.Cut(filter, ".")
	if err := aggregate.ValidateType(typ); err != nil {
		return "", fmt.Errorf("tail filter %q: %w (want >, <type> or <type>.<id>)", filter, err)
	}
	if !withID {
		return streams.SubjectPrefix + "." + typ + ".*", nil
	}
	ref, err := streams.NewRef(typ, id)
	if err != nil {
		return "", fmt.Errorf("tail filter %q: %w", filter, err)
	}
	return ref.Subject(), nil
}

// Tail follows the events the filter selects (see TailSubject) that are
// appended from now on, with an ordered consumer of the stream. It returns
// once the consumer is in place; ranging over the sequence yields each new
// event until ctx is done (then it ends without an error) or reading fails
// (an error as the last element).
func (c *Client) Tail(ctx context.Context, filter string) (iter.Seq2[Event, error], error) {
	subject, err := TailSubject(filter)
	if err != nil {
		return nil, err
	}
	cons, err := c.Store.JetStream().OrderedConsumer(ctx, c.Store.StreamName(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("tail %s: %w", subject, err)
	}
	msgs, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("tail %s: %w", subject, err)
	}
	return func(yield func(Event, error) bool) {
		defer msgs.Stop()
		for {
			msg, err := msgs.Next(jetstream.NextContext(ctx))
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				yield(Event{}, fmt.Errorf("tail %s: %w", subject, err))
				return
			}
			ev, err := c.received(ctx, msg)
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}, nil
}

// received decodes a delivered event and opens its personal fields.
func (c *Client) received(ctx context.Context, msg jetstream.Msg) (Event, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return Event{}, fmt.Errorf("tail: %w", err)
	}
	rec, err := streams.Decode(msg.Subject(), streams.Sequence(meta.Sequence.Stream), msg.Headers(), msg.Data())
	if err != nil {
		return Event{}, err
	}
	if rec, err = c.Store.Unseal(ctx, rec); err != nil {
		return Event{}, err
	}
	return eventOf(streams.Stored{Recorded: rec, Header: msg.Headers()}), nil
}
