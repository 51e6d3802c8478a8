package testkit

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetsource/jetsource/streams"
)

// Fold hands every event of subject in stream to apply, in stream order,
// read straight from JetStream (an ordered consumer): the fold a read model
// must equal. Nothing may be appended to subject meanwhile: the consumer's
// pending count says where its events end.
func Fold(t testing.TB, js jetstream.JetStream, stream, subject string, apply func(streams.Recorded)) {
	t.Helper()
	ctx := context.Background()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatalf("testkit: fold %s: %v", subject, err)
	}
	msgs, err := cons.Messages()
	if err != nil {
		t.Fatalf("testkit: fold %s: %v", subject, err)
	}
	defer msgs.Stop()
	for {
		msg, err := msgs.Next()
		if err != nil {
			t.Fatalf("testkit: fold %s: %v", subject, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			t.Fatalf("testkit: fold %s: %v", subject, err)
		}
		ev, err := streams.Decode(msg.Subject(), streams.Sequence(meta.Sequence.Stream), msg.Headers(), msg.Data())
		if err != nil {
			t.Fatalf("testkit: fold %s: sequence %d: %v", subject, meta.Sequence.Stream, err)
		}
		apply(ev)
		if meta.NumPending == 0 {
			return
		}
	}
}
