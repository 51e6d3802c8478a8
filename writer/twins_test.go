package writer_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/aggregate"
	"github.com/jetsource/jetsource/codec"
	"github.com/jetsource/jetsource/testkit"
	"github.com/jetsource/jetsource/writer"
)

// Twins of one command_id sent at once to two writers all get the first
// attempt's reply, byte for byte, even when the first attempt's events
// change what a twin decided on its own (a withdrawal that empties the
// account would be refused as "insufficient funds").
func TestTwinsOfACommandGetTheFirstAttemptsReplyOnAnyWriter(t *testing.T) {
	n := testkit.StartNATS(t)
	w := startWriter(t, n)
	startWriter(t, n)
	nc := n.Connect()
	const rounds, twins = 20, 4
	clients := make([]*nats.Conn, twins)
	for i := range clients {
		clients[i] = n.Connect()
	}
	for round := range rounds {
		id := fmt.Sprintf("empty-%d", round)
		ok(t, nc, "cmd.account.open", `{"aggregate_id":"`+id+`","data":{"owner":"ada"}}`)
		ok(t, nc, "cmd.account.deposit", `{"aggregate_id":"`+id+`","data":{"amount":100}}`)
		body := fmt.Sprintf(`{"aggregate_id":%q,"command_id":"all-of-it-%d","data":{"amount":100}}`, id, round)
		replies := make([]result, twins)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range twins {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				replies[i] = send(t, clients[i], "cmd.account.withdraw", body)
			}()
		}
		close(start)
		wg.Wait()
		for i, r := range replies {
			require.Equal(t, 200, r.status, "round %d twin %d: %s", round, i, r.raw)
			require.Equal(t, replies[0].raw, r.raw, "round %d twin %d: the first reply, byte for byte", round, i)
		}
		assert.Len(t, events(t, w.store, "account", id), 3, "round %d: withdrawn once", round)
	}
}

// counterParts is a test aggregate whose commands are split between two
// writers, so that a test knows which writer serves each command.
func counterParts(commands ...string) aggregate.Definition[int] {
	reg := codec.NewRegistry()
	type Created struct{}
	type Bumped struct{}
	codec.Register[Created](reg, "Created")
	codec.Register[Bumped](reg, "Bumped")
	all := map[string]aggregate.Command[int]{
		"create": aggregate.Create[int](func(struct{}) ([]any, error) { return []any{Created{}}, nil }),
		"bump":   aggregate.Handle(func(int, struct{}) ([]any, error) { return []any{Bumped{}}, nil }),
		"noop":   aggregate.Handle(func(int, struct{}) ([]any, error) { return nil, nil }),
	}
	def := aggregate.Definition[int]{Type: "counter", Events: reg, Commands: map[string]aggregate.Command[int]{},
		Evolve: func(s int, _ any) int { return s + 1 }}
	for _, c := range commands {
		def.Commands[c] = all[c]
	}
	return def
}

// A command that decides no events answers with the store's version, not
// with a writer's cached one: another writer may have moved the aggregate.
func TestNoEventDecisionIsCheckedAgainstTheStore(t *testing.T) {
	n := testkit.StartNATS(t)
	startWriterWith(t, n, func(w *writer.Writer) error { return writer.Register(w, counterParts("create", "noop")) })
	startWriterWith(t, n, func(w *writer.Writer) error { return writer.Register(w, counterParts("bump")) })
	nc := n.Connect()
	ok(t, nc, "cmd.counter.create", `{"aggregate_id":"c1"}`)        // the first writer caches version 1
	moved := ok(t, nc, "cmd.counter.bump", `{"aggregate_id":"c1"}`) // the second moves it to 2
	require.Equal(t, uint64(2), moved.Version)

	r := send(t, nc, "cmd.counter.noop", `{"aggregate_id":"c1","expected_version":1}`)
	assert.Equal(t, 409, r.status, r.raw)
	assert.Contains(t, r.msg, "is at version 2, expected_version was 1")
	assert.Equal(t, writer.Reply{AggregateID: "c1", Version: 2, Sequence: moved.Sequence, Events: []writer.ReplyEvent{}},
		ok(t, nc, "cmd.counter.noop", `{"aggregate_id":"c1","expected_version":2}`))
}
