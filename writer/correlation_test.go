package writer_test

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// A command's Es-Correlation-Id and Es-Causation-Id request headers reach
// every event it appends; a malformed one is a 400 that appends nothing.
func TestCorrelationHeadersReachTheEvents(t *testing.T) {
	n := testkit.StartNATS(t)
	w := startWriter(t, n)
	nc := n.Connect()
	request := func(corr, cause []string, body string) *nats.Msg {
		m := nats.NewMsg("cmd.account.open")
		m.Data = []byte(body)
		for _, v := range corr {
			m.Header.Add(streams.HeaderCorrelationID, v)
		}
		for _, v := range cause {
			m.Header.Add(streams.HeaderCausationID, v)
		}
		reply, err := nc.RequestMsg(m, requestTimeout)
		require.NoError(t, err)
		return reply
	}
	reply := request([]string{"tr-1"}, []string{"evt-9"}, `{"aggregate_id":"corr","data":{"owner":"ada"}}`)
	assert.Empty(t, reply.Header.Get("Nats-Service-Error-Code"), "%s", reply.Data)
	ok(t, nc, "cmd.account.deposit", `{"aggregate_id":"corr","data":{"amount":3}}`)
	evs := events(t, w.store, "account", "corr")
	require.Len(t, evs, 2)
	assert.Equal(t, "tr-1", evs[0].CorrelationID)
	assert.Equal(t, "evt-9", evs[0].CausationID)
	assert.Empty(t, evs[1].CorrelationID, "a command without the headers appends events without them")
	assert.Empty(t, evs[1].CausationID)

	for _, bad := range []struct {
		corr, cause []string
		says        string
	}{
		{[]string{"a.b"}, nil, "header Es-Correlation-Id"},
		{nil, []string{"x y"}, "header Es-Causation-Id"},
		{[]string{"a", "b"}, nil, "given 2 times"},
	} {
		r := request(bad.corr, bad.cause, `{"aggregate_id":"corr-bad","data":{"owner":"ada"}}`)
		assert.Equal(t, "400", r.Header.Get("Nats-Service-Error-Code"), "%v %v", bad.corr, bad.cause)
		assert.Contains(t, r.Header.Get("Nats-Service-Error"), bad.says)
	}
	assert.Empty(t, events(t, w.store, "account", "corr-bad"), "a refused request appends nothing")
}
