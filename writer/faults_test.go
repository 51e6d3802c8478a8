package writer_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/testkit"
	"github.com/jetsource/jetsource/writer"
)

// unansweredReads makes the batched direct gets of the EVENTS stream go
// unanswered, as when the server holding the stream stops between a request
// and its answer: the stream stops serving direct gets and a subscriber that
// never answers takes the requests. The returned function undoes it.
func unansweredReads(t *testing.T, n *testkit.NATS) (restore func()) {
	t.Helper()
	ctx := context.Background()
	js, err := jetstream.New(n.Connect())
	require.NoError(t, err)
	setDirect := func(on bool) {
		s, err := js.Stream(ctx, "EVENTS")
		require.NoError(t, err)
		cfg := s.CachedInfo().Config
		cfg.AllowDirect = on
		_, err = js.UpdateStream(ctx, cfg)
		require.NoError(t, err)
	}
	setDirect(false)
	silent := n.Connect()
	sub, err := silent.Subscribe("$JS.API.DIRECT.GET.EVENTS", func(*nats.Msg) {})
	require.NoError(t, err)
	require.NoError(t, silent.Flush())
	return func() {
		require.NoError(t, sub.Unsubscribe())
		require.NoError(t, silent.Flush())
		setDirect(true)
	}
}

// A read of an existing aggregate that the server never answers is 503, not
// 404 "does not exist" (a client does not resend a 404: the command would be
// lost).
func TestUnansweredReadIsUnavailableNotNotFound(t *testing.T) {
	n := testkit.StartNATS(t)
	// No cache: every command loads its aggregate from the store.
	startWriter(t, n, writer.WithCacheSize(-1))
	nc := n.Connect()
	ok(t, nc, "cmd.account.open", `{"aggregate_id":"there","data":{"owner":"ada"}}`)
	ok(t, nc, "cmd.account.deposit", `{"aggregate_id":"there","data":{"amount":10}}`)

	restore := unansweredReads(t, n)
	for _, body := range []string{
		`{"aggregate_id":"there","data":{"amount":5}}`,
		`{"aggregate_id":"there","command_id":"unanswered-1","data":{"amount":5}}`,
	} {
		r := send(t, nc, "cmd.account.deposit", body)
		assert.Equal(t, 503, r.status, r.raw)
		assert.Equal(t, "unavailable", r.code)
	}
	// A withdrawal decided on a read that stopped early would be a false 422.
	r := send(t, nc, "cmd.account.withdraw", `{"aggregate_id":"there","data":{"amount":10}}`)
	assert.Equal(t, 503, r.status, r.raw)

	restore()
	assert.Equal(t, uint64(3), ok(t, nc, "cmd.account.withdraw", `{"aggregate_id":"there","data":{"amount":10}}`).Version,
		"nothing was appended while reads went unanswered")
}
