package live_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/domain/account"
	"github.com/jetsource/jetsource/gateway"
	"github.com/jetsource/jetsource/live"
	"github.com/jetsource/jetsource/testkit"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	event, id string
	data      live.Message
}

// readSSE reads events of a live query stream until n are read.
func readSSE(t *testing.T, sc *bufio.Scanner, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			out = append(out, cur)
			cur = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			cur.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.data))
		}
	}
	require.Len(t, out, n, "stream ended: %v", sc.Err())
	return out
}

func TestSSEThroughTheGatewayResumesWithLastEventID(t *testing.T) {
	e := newEnv(t, true)
	e.add("a1", account.AccountOpened{Owner: "o"})
	e.caughtUp()
	gw, err := gateway.New(e.nc, gateway.WithLive(live.NewHandler(e.nc, queries(), 0)))
	require.NoError(t, err)
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	get := func(lastID string) (*http.Response, *bufio.Scanner) {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/live/ledger/balance?id=a1", nil)
		require.NoError(t, err)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
		return res, bufio.NewScanner(res.Body)
	}
	res, sc := get("")
	first := readSSE(t, sc, 1)[0]
	assert.Equal(t, "answer", first.event)
	assert.JSONEq(t, `{"balance":0}`, string(first.data.Data))
	var got []sseEvent
	got = append(got, first)
	// Each deposit waits for its answer: every balance is one event.
	for d := int64(1); d <= 3; d++ {
		e.add("a1", account.MoneyDeposited{Amount: d})
		got = append(got, readSSE(t, sc, 1)...)
	}
	res.Body.Close()
	for d := int64(4); d <= 6; d++ {
		e.add("a1", account.MoneyDeposited{Amount: d})
	}
	e.caughtUp()
	res, sc = get(got[len(got)-1].id)
	defer res.Body.Close()
	for got[len(got)-1].data.Data == nil || string(got[len(got)-1].data.Data) != `{"balance":21}` {
		got = append(got, readSSE(t, sc, 1)...)
	}
	var balances []string
	for i, ev := range got {
		assert.Equal(t, "answer", ev.event)
		assert.Equal(t, strconv.FormatUint(ev.data.Sequence, 10), ev.id)
		if i > 0 {
			assert.Greater(t, ev.data.Sequence, got[i-1].data.Sequence, "no repeat, in order")
		}
		balances = append(balances, string(ev.data.Data))
	}
	assert.Equal(t, []string{`{"balance":0}`, `{"balance":1}`, `{"balance":3}`, `{"balance":6}`}, balances[:4])
	history := e.history("live.answer.ledger.balance." + liveInstance(t, e, "ledger", "balance", `{"id":"a1"}`))
	require.Len(t, got, len(history), "the stream's answers, no more, no less")
	for i, h := range history {
		assert.Equal(t, h.seq, got[i].data.Sequence)
	}
}

// liveInstance is the instance id of a query with params.
func liveInstance(t *testing.T, e *env, model, name, params string) string {
	sub, err := live.Subscribe(context.Background(), e.nc, model, name, json.RawMessage(params))
	require.NoError(t, err)
	defer sub.Close()
	return sub.Instance()
}

func TestSSERefusesBadRequestsWithTheErrorBody(t *testing.T) {
	e := newEnv(t, true)
	hash, err := gateway.HashToken("s3cret-token-of-the-reader-0123456789")
	require.NoError(t, err)
	gw, err := gateway.New(e.nc, gateway.WithLive(live.NewHandler(e.nc, queries(), 0)),
		gateway.WithTokens(gateway.Token{Name: "reader", Hash: hash, Scopes: []string{"query:account"}}))
	require.NoError(t, err)
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		path, lastID string
		status       int
		code         string
	}{
		{"/v1/live/account/get?id=a1", "x", 400, "bad_request"},
		{"/v1/live/account/get?id=a.b", "", 400, "bad_request"},
		{"/v1/live/account/get", "", 400, "bad_request"},
		{"/v1/live/account/nope", "", 404, "not_found"},
		{"/v1/live/ledger/balance?id=a1", "", 403, "forbidden"},
	} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer s3cret-token-of-the-reader-0123456789")
		if tc.lastID != "" {
			req.Header.Set("Last-Event-ID", tc.lastID)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var body struct{ Error live.ErrorBody }
		require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
		res.Body.Close()
		assert.Equal(t, tc.status, res.StatusCode, tc.path)
		assert.Equal(t, tc.code, body.Error.Code, tc.path)
		assert.NotEmpty(t, body.Error.Message, tc.path)
	}
}

func TestSlowSubscriberIsCutOffWhileOthersAndTheProjectionGoOn(t *testing.T) {
	e := newEnv(t, true)
	e.add("a1", account.AccountOpened{Owner: "o"})
	e.caughtUp()
	ctx := context.Background()
	slow, err := live.Subscribe(ctx, e.nc, "ledger", "balance", json.RawMessage(`{"id":"a1"}`), live.WithBuffer(2))
	require.NoError(t, err)
	defer slow.Close()
	fast, err := live.Subscribe(ctx, e.nc, "ledger", "balance", json.RawMessage(`{"id":"a1"}`))
	require.NoError(t, err)
	defer fast.Close()
	got := collect(t, fast, 0, 1)
	for d := int64(1); d <= 6; d++ {
		e.add("a1", account.MoneyDeposited{Amount: d})
		got = append(got, collect(t, fast, 0, 1)...) // one answer per deposit
	}
	assert.Equal(t, int64(21), got[len(got)-1].balance)
	testkit.Eventually(t, 10*time.Second, func() bool { return errors.Is(slow.Err(), live.ErrSlowSubscriber) }, "the slow subscriber was not cut off: %v", slow.Err())
	assert.Contains(t, slow.Err().Error(), "too slow")
	var unread int
	for range slow.Updates() {
		unread++
	}
	assert.Equal(t, 2, unread, "the slow subscriber keeps the answers it had room for")
}

func TestALostNoticeDelaysAnUpdateButNeverLosesIt(t *testing.T) {
	e := newEnv(t, false, live.WithCheckInterval(100*time.Millisecond)) // no notices at all
	e.add("a1", account.AccountOpened{Owner: "o"})
	e.caughtUp()
	sub, err := live.Subscribe(context.Background(), e.nc, "account", "get", json.RawMessage(`{"id":"a1"}`))
	require.NoError(t, err)
	defer sub.Close()
	e.add("a1", account.MoneyDeposited{Amount: 5}, account.MoneyDeposited{Amount: 7})
	got := collect(t, sub, 12, 0)
	assert.Equal(t, int64(12), got[len(got)-1].balance)
}

func TestResumeOlderThanTheHistoryGetsTheCurrentAnswerMarkedReset(t *testing.T) {
	e := newEnv(t, true, live.WithHistory(2))
	e.add("a1", account.AccountOpened{Owner: "o"})
	e.caughtUp()
	ctx := context.Background()
	follower, err := live.Subscribe(ctx, e.nc, "ledger", "balance", json.RawMessage(`{"id":"a1"}`))
	require.NoError(t, err)
	defer follower.Close()
	first := collect(t, follower, 0, 1)
	for d := int64(1); d <= 4; d++ {
		e.add("a1", account.MoneyDeposited{Amount: d})
		collect(t, follower, 0, 1)
	}
	sub, err := live.Subscribe(ctx, e.nc, "ledger", "balance", json.RawMessage(`{"id":"a1"}`), live.After(first[0].seq))
	require.NoError(t, err)
	defer sub.Close()
	got := collect(t, sub, 0, 1)[0]
	assert.True(t, got.reset, "the history no longer holds sequence %d", first[0].seq)
	assert.Equal(t, int64(10), got.balance)
	e.add("a1", account.MoneyDeposited{Amount: 5})
	next := collect(t, sub, 0, 1)[0]
	assert.False(t, next.reset)
	assert.Equal(t, int64(15), next.balance)
}

func TestSubscribeRefusesUnknownQueriesAndBadParameters(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	for _, tc := range []struct {
		model, name, params string
		status              int
	}{
		{"account", "nope", `{}`, 404},
		{"account", "get", `{}`, 400},
		{"account", "get", `{"id":"a*"}`, 400},
		{"account", "get", `{"id":"a1","extra":1}`, 400},
		{"account", "get", `[1]`, 400},
	} {
		_, err := live.Subscribe(ctx, e.nc, tc.model, tc.name, json.RawMessage(tc.params))
		var refused *live.SubscribeError
		require.ErrorAs(t, err, &refused, "%s.%s %s", tc.model, tc.name, tc.params)
		assert.Equal(t, tc.status, refused.Status, "%s.%s %s: %v", tc.model, tc.name, tc.params, err)
		assert.NotEmpty(t, refused.Message)
	}
}

func TestTwoServersAppendEachAnswerOnceAndInOrder(t *testing.T) {
	e := newEnv(t, true)
	e.startServer()
	e.add("a1", account.AccountOpened{Owner: "o"})
	e.caughtUp()
	sub, err := live.Subscribe(context.Background(), e.nc, "account", "get", json.RawMessage(`{"id":"a1"}`))
	require.NoError(t, err)
	defer sub.Close()
	for d := int64(1); d <= 30; d++ {
		e.add("a1", account.MoneyDeposited{Amount: d})
	}
	got := collect(t, sub, 465, 0)
	assertIncreasing(t, got)
	history := e.rawHistory(sub.Subject())
	require.Equal(t, len(history), len(got), "every answer once")
	for i, m := range history {
		assert.Equal(t, got[i].seq, m.Sequence)
		if i > 0 {
			assert.Equal(t, history[i-1].Sequence, m.Previous, "each answer names the one before it")
		}
	}
}

func TestAQueryWithoutAnIDFollowsEveryChangeOfItsProjection(t *testing.T) {
	e := newEnv(t, true)
	e.add("a1", account.AccountOpened{Owner: "o"})
	e.caughtUp()
	sub, err := live.Subscribe(context.Background(), e.nc, "account", "list", json.RawMessage(`{"limit":10}`))
	require.NoError(t, err)
	defer sub.Close()
	count := func(u live.Update) int {
		var list []json.RawMessage
		require.NoError(t, json.Unmarshal(u.Data, &list))
		return len(list)
	}
	assert.Equal(t, 1, count(<-sub.Updates()))
	e.add("a2", account.AccountOpened{Owner: "o"})
	var last live.Update
	for last = range sub.Updates() {
		if count(last) == 2 {
			break
		}
	}
	assert.Equal(t, 2, count(last))
	// The same parameters spelled otherwise are the same instance.
	same, err := live.Subscribe(context.Background(), e.nc, "account", "list", json.RawMessage(` { "limit" : 10 } `))
	require.NoError(t, err)
	defer same.Close()
	assert.Equal(t, sub.Instance(), same.Instance())
}

func TestANewInstancePastTheLimitIsRefused(t *testing.T) {
	e := newEnv(t, true, live.WithMaxInstances(1))
	ctx := context.Background()
	sub, err := live.Subscribe(ctx, e.nc, "account", "get", json.RawMessage(`{"id":"a1"}`))
	require.NoError(t, err)
	defer sub.Close()
	again, err := live.Subscribe(ctx, e.nc, "account", "get", json.RawMessage(`{"id":"a1"}`))
	require.NoError(t, err, "the instance that exists is still served")
	again.Close()
	_, err = live.Subscribe(ctx, e.nc, "account", "get", json.RawMessage(`{"id":"a2"}`))
	var refused *live.SubscribeError
	require.ErrorAs(t, err, &refused)
	assert.Equal(t, 503, refused.Status)
	assert.Contains(t, refused.Message, "as many live query instances")
}
