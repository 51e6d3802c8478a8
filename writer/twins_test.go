package writer_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/internal/testenv"
)

// Twins of one command_id sent at once to two writers all get the first
// attempt's reply, byte for byte, even when the first attempt's events
// change what a twin decided on its own (a withdrawal that empties the
// account would be refused as "insufficient funds").
func TestTwinsOfACommandGetTheFirstAttemptsReplyOnAnyWriter(t *testing.T) {
	n := testenv.StartNATS(t)
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
