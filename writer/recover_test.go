package writer_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/codec"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
	"github.com/jetsource/jetsource/writer"
)

// fragile is a test aggregate with bugs: one command's Decide panics, and
// Evolve panics on one event type.
func fragile() aggregate.Definition[int] {
	reg := codec.NewRegistry()
	type Made struct{}
	type Poisoned struct{}
	codec.Register[Made](reg, "Made")
	codec.Register[Poisoned](reg, "Poisoned")
	return aggregate.Definition[int]{Type: "fragile", Events: reg,
		Evolve: func(s int, e any) int {
			if _, ok := e.(Poisoned); ok {
				panic("evolve cannot fold Poisoned")
			}
			return s + 1
		},
		Commands: map[string]aggregate.Command[int]{
			"make":    aggregate.Create[int](func(struct{}) ([]any, error) { return []any{Made{}}, nil }),
			"explode": aggregate.Create[int](func(struct{}) ([]any, error) { panic("decide blew up") }),
			"poison":  aggregate.Handle(func(int, struct{}) ([]any, error) { return []any{Poisoned{}}, nil }),
		}}
}

// A panic in an aggregate's Decide or Evolve answers that command 500
// internal, is logged with its stack, and the writer keeps serving.
func TestPanicInUserCodeIsInternalErrorAndTheWriterKeepsServing(t *testing.T) {
	n := testkit.StartNATS(t)
	logs := &testkit.SyncBuffer{}
	startWriterWith(t, n, func(w *writer.Writer) error { return writer.Register(w, fragile()) },
		writer.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	nc := n.Connect()

	r := send(t, nc, "cmd.fragile.explode", `{"aggregate_id":"f1"}`)
	assert.Equal(t, 500, r.status, r.raw)
	assert.Equal(t, "internal", r.code)
	assert.NotContains(t, r.raw, "blew up", "the reply says little")
	ok(t, nc, "cmd.fragile.make", `{"aggregate_id":"f1"}`)

	r = send(t, nc, "cmd.fragile.poison", `{"aggregate_id":"f1"}`)
	assert.Equal(t, 500, r.status, r.raw)
	assert.Equal(t, "internal", r.code)
	ok(t, nc, "cmd.fragile.make", `{"aggregate_id":"f2"}`)
	ok(t, nc, "cmd.account.open", `{"aggregate_id":"after-panics","data":{"owner":"ada"}}`)

	out := logs.String()
	assert.Contains(t, out, "decide blew up")
	assert.Contains(t, out, "evolve cannot fold Poisoned")
	assert.Contains(t, out, "runtime/debug.Stack", "logged with its stack")
	assert.Contains(t, out, "recover_test.go", "the stack reaches the panicking code")
}

// The writer never trusts the stream blindly: an aggregate whose history
// holds a forged event with a repeated version is refused with a 500 that
// names the event, and a correction through the platform restores it.
func TestForgedEventIsRefusedWithA500NamingItUntilCorrected(t *testing.T) {
	n := testkit.StartNATS(t)
	w := startWriter(t, n)
	nc := n.Connect()
	ok(t, nc, "cmd.account.open", `{"aggregate_id":"f1","data":{"owner":"ada"}}`)
	ok(t, nc, "cmd.account.deposit", `{"aggregate_id":"f1","data":{"amount":10}}`)
	forged := nats.NewMsg("events.account.f1")
	forged.Header.Set(streams.HeaderType, "MoneyDeposited")
	forged.Header.Set(streams.HeaderVersion, "2")
	forged.Data = []byte(`{"amount":1000000}`)
	ack, err := w.store.JetStream().PublishMsg(context.Background(), forged)
	require.NoError(t, err)

	r := send(t, nc, "cmd.account.withdraw", `{"aggregate_id":"f1","data":{"amount":500000}}`)
	assert.Equal(t, 500, r.status, r.raw)
	assert.Contains(t, r.msg, fmt.Sprintf("at sequence %d has version 2", ack.Sequence), "the reply names the event")

	ref, _ := streams.NewRef("account", "f1")
	_, err = w.store.VoidEvent(context.Background(), ref, streams.Sequence(ack.Sequence), "forged deposit")
	require.NoError(t, err)
	r = send(t, nc, "cmd.account.withdraw", `{"aggregate_id":"f1","data":{"amount":500000}}`)
	assert.Equal(t, 422, r.status, "the forged million is not there: %s", r.raw)
	ok(t, nc, "cmd.account.withdraw", `{"aggregate_id":"f1","data":{"amount":10}}`)
}
