package writer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/testkit"
	"github.com/jetsource/jetsource/writer"
)

// A refusal is the first reply of its command_id too: a resend after the
// account could pay gets the same 422, byte for byte, and withdraws nothing.
func TestRefusalIsKeptForItsCommandID(t *testing.T) {
	n := testkit.StartNATS(t)
	w := startWriter(t, n)
	nc := n.Connect()
	ok(t, nc, "cmd.account.open", `{"aggregate_id":"k1","data":{"owner":"ada"}}`)
	first := send(t, nc, "cmd.account.withdraw", `{"aggregate_id":"k1","command_id":"wd-k1","data":{"amount":50}}`)
	require.Equal(t, 422, first.status, first.raw)
	ok(t, nc, "cmd.account.deposit", `{"aggregate_id":"k1","data":{"amount":100}}`)
	again := send(t, nc, "cmd.account.withdraw", `{"aggregate_id":"k1","command_id":"wd-k1","data":{"amount":50}}`)
	assert.Equal(t, first.status, again.status)
	assert.Equal(t, first.raw, again.raw, "the first reply, byte for byte")
	assert.Equal(t, first.header.Get("Nats-Service-Error"), again.header.Get("Nats-Service-Error"))
	assert.Len(t, events(t, w.store, "account", "k1"), 2, "opened and deposited: the withdrawal never ran")
}

// Twins of one command_id in flight on two writers at once run it once: the
// twin that finds the command_id claimed waits for the first attempt's
// outcome instead of deciding on its own.
func TestTwinInFlightWaitsForTheFirstAttempt(t *testing.T) {
	g, replies, _ := twinWriters(t, "s1")
	// The twin on the other writer must not decide while the first runs.
	select {
	case <-g.entered:
		t.Fatal("the twin decided the command again while the first attempt was running")
	case <-time.After(300 * time.Millisecond):
	}
	g.open()
	a, err := replies.NextMsg(10 * time.Second)
	require.NoError(t, err)
	b, err := replies.NextMsg(10 * time.Second)
	require.NoError(t, err)
	assert.Empty(t, a.Header.Get("Nats-Service-Error-Code"), string(a.Data))
	assert.Equal(t, string(a.Data), string(b.Data), "both twins answer the first attempt's reply")
	assert.Empty(t, g.entered, "decided once")
}

// A twin that waits longer than its command timeout for a first attempt that
// is still running answers 503 and does nothing; a resend once the first
// attempt finished gets its reply.
func TestTwinThatWaitedPastItsDeadlineIsUnavailable(t *testing.T) {
	g, replies, nc := twinWriters(t, "s2", writer.WithTimeout(time.Second), writer.WithStaleClaim(time.Minute))
	waited, err := replies.NextMsg(10 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, "503", waited.Header.Get("Nats-Service-Error-Code"), string(waited.Data))
	assert.Contains(t, string(waited.Data), "still running")
	g.open()
	first, err := replies.NextMsg(10 * time.Second)
	require.NoError(t, err)
	// The first attempt was held past its own timeout: a success is kept for
	// the resend; a 503 released the claim, so the resend may run it.
	resend := send(t, nc, "cmd.slow.pass", `{"aggregate_id":"s2","command_id":"pass-s2"}`)
	if first.Header.Get("Nats-Service-Error-Code") == "" {
		assert.Equal(t, string(first.Data), resend.raw)
		assert.Empty(t, g.entered, "decided once")
	}
}

// awaitBothGroups waits until a request reaches both writers (two queue
// groups): each answers it.
func awaitBothGroups(t *testing.T, nc *nats.Conn) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, func() bool {
		inbox := nats.NewInbox()
		sub, err := nc.SubscribeSync(inbox)
		require.NoError(t, err)
		defer sub.Unsubscribe()
		require.NoError(t, nc.PublishRequest("cmd.account.open", inbox, []byte(`{}`)))
		for range 2 {
			if _, err := sub.NextMsg(time.Second); err != nil {
				return false
			}
		}
		return true
	}, "both writers serve")
}

// twinWriters starts two writers with the gated "slow" aggregate in two
// queue groups, so that every request reaches both and each has a twin on
// the other writer at the same moment; then it sends cmd.slow.pass on
// aggregate id with a command_id, and waits until one writer runs it. The
// replies of both arrive on the returned subscription.
func twinWriters(t *testing.T, id string, opts ...writer.Option) (gate, *nats.Subscription, *nats.Conn) {
	t.Helper()
	n := testkit.StartNATS(t)
	g := newGate()
	extra := func(w *writer.Writer) error { return writer.Register(w, g.definition()) }
	startWriterWith(t, n, extra, append([]writer.Option{writer.WithQueueGroup("a")}, opts...)...)
	startWriterWith(t, n, extra, append([]writer.Option{writer.WithQueueGroup("b")}, opts...)...)
	// A failed test must not leave a worker held in Decide: the writers'
	// drain (an earlier cleanup, so a later one to run) would wait for it.
	t.Cleanup(g.open)
	nc := n.Connect()
	awaitBothGroups(t, nc)
	inbox := nats.NewInbox()
	replies, err := nc.SubscribeSync(inbox)
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	require.NoError(t, nc.PublishRequest("cmd.slow.pass", inbox, fmt.Appendf(nil, `{"aggregate_id":%q,"command_id":"pass-%s"}`, id, id)))
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the command never ran")
	}
	return g, replies, nc
}
