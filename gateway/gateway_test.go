package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/gateway"
	"github.com/jetsource/jetsource/testkit"
)

// fixture is a gateway served by Serve (its own http.Server, with its
// timeouts) in front of an echo service on a real NATS server.
type fixture struct {
	gw  *gateway.Gateway
	url string
	// held receives the subject of each request the echo service holds
	// (query.account.hold) until the test sends on release.
	held    chan string
	release chan struct{}
}

// startGateway starts the echo service and a gateway in front of it.
//
// The echo service answers cmd.account.* and query.account.* by echoing the
// subject and body; it fails cmd.account.withdraw with a 422 as the writer
// would, holds query.account.hold until released, and answers
// query.account.slow after slowReply.
func startGateway(t *testing.T, opts ...gateway.Option) *fixture {
	t.Helper()
	n := testkit.StartNATS(t)
	nc := n.Connect()
	f := &fixture{held: make(chan string, 16), release: make(chan struct{})}
	svc, err := micro.AddService(nc, micro.Config{Name: "echo", Version: "0.0.1"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Stop() })
	ended := make(chan struct{})
	// Registered after svc.Stop, so run before it: no handler stays held.
	t.Cleanup(func() { close(ended) })
	reply := func(r micro.Request) {
		_ = r.RespondJSON(map[string]any{"subject": r.Subject(), "body": json.RawMessage(r.Data())})
	}
	// Held and slow requests answer from their own goroutine: the endpoint
	// handles its messages one at a time.
	echo := micro.HandlerFunc(func(r micro.Request) {
		switch r.Subject() {
		case "cmd.account.withdraw":
			_ = r.Error("422", "rejected: insufficient funds", []byte(`{"error":{"code":"rejected","message":"insufficient funds"}}`))
		case "query.account.hold":
			f.held <- r.Subject()
			go func() {
				select {
				case <-f.release:
					reply(r)
				case <-ended:
				}
			}()
		case "query.account.slow":
			go func() {
				select {
				case <-time.After(slowReply):
					reply(r)
				case <-ended:
				}
			}()
		default:
			reply(r)
		}
	})
	require.NoError(t, svc.AddEndpoint("cmd", echo, micro.WithEndpointSubject("cmd.account.*")))
	require.NoError(t, svc.AddEndpoint("query", echo, micro.WithEndpointSubject("query.account.*")))
	// The gateway uses another connection: the server must have registered the
	// echo service's subscriptions before the first request, or it answers
	// "no responders". A flush round trip on the subscribing connection
	// guarantees that.
	require.NoError(t, nc.Flush())
	quiet := gateway.WithLogger(slog.New(slog.DiscardHandler))
	gw, err := gateway.New(n.Connect(), append([]gateway.Option{quiet}, opts...)...)
	require.NoError(t, err)
	f.gw = gw
	f.url = "http://" + serve(t, gw).String()
	return f
}

// serve runs gw.Serve on a free port until the test ends.
func serve(t *testing.T, gw *gateway.Gateway) net.Addr {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, "127.0.0.1:0", func(a net.Addr) { addr <- a }) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	select {
	case a := <-addr:
		return a
	case err := <-done:
		t.Fatalf("serve: %v", err)
		return nil
	}
}

// slowReply is how long query.account.slow takes: longer than the read
// timeout of the tests that use it.
const slowReply = 600 * time.Millisecond

func do(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	status, _, out := doAs(t, "", method, url, body)
	return status, out
}

// doAs sends the request with token as its bearer token (none when empty)
// and returns the status, the headers and the JSON body.
func doAs(t *testing.T, token, method, url, body string) (int, http.Header, map[string]any) {
	t.Helper()
	resp, raw := request(t, token, method, url, body)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "body %s", raw)
	return resp.StatusCode, resp.Header, out
}

// request sends the request with token as its bearer token (none when
// empty) and returns the response and its whole body.
func request(t *testing.T, token, method, url, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, raw
}

func TestCommandIsForwardedToItsSubject(t *testing.T) {
	srv := startGateway(t)
	status, body := do(t, "POST", srv.url+"/v1/commands/account/deposit", `{"aggregate_id":"acc-1","data":{"amount":5}}`)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "cmd.account.deposit", body["subject"])
	assert.Equal(t, map[string]any{"aggregate_id": "acc-1", "data": map[string]any{"amount": float64(5)}}, body["body"])
}

func TestServiceErrorCodeBecomesHTTPStatus(t *testing.T) {
	srv := startGateway(t)
	status, body := do(t, "POST", srv.url+"/v1/commands/account/withdraw", `{"aggregate_id":"acc-1","data":{"amount":5}}`)
	assert.Equal(t, http.StatusUnprocessableEntity, status)
	assert.Equal(t, "rejected", body["error"].(map[string]any)["code"])
}

func TestQueryParamsTravelAsJSON(t *testing.T) {
	srv := startGateway(t)
	status, body := do(t, "GET", srv.url+"/v1/queries/account/get?id=acc-1&min_sequence=12&wait_ms=500", "")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "query.account.get", body["subject"])
	assert.Equal(t, map[string]any{"id": "acc-1", "min_sequence": float64(12), "wait_ms": float64(500)}, body["body"])
}

// A position of a deployment of several streams travels as the string it is.
func TestMinSequencePositionTravelsAsAString(t *testing.T) {
	srv := startGateway(t)
	status, body := do(t, "GET", srv.url+"/v1/queries/account/get?id=acc-1&min_sequence=ACCOUNTS:12", "")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"id": "acc-1", "min_sequence": "ACCOUNTS:12"}, body["body"])
}

func TestGatewayRefusesBadRequests(t *testing.T) {
	srv := startGateway(t, gateway.WithMaxBodyBytes(64))
	cases := []struct {
		name, method, path, body string
		status                   int
		code, message            string
	}{
		{"body too large", "POST", "/v1/commands/account/deposit", strings.Repeat("x", 65), 413, "bad_request", "larger than 64 bytes"},
		{"bad type", "POST", "/v1/commands/Acc.x/deposit", "{}", 400, "bad_request", "must match"},
		{"numeric param not a number", "GET", "/v1/queries/account/get?id=a&min_sequence=x", "", 400, "bad_request", `"min_sequence" must be an integer`},
		{"repeated param", "GET", "/v1/queries/account/get?id=a&id=b", "", 400, "bad_request", `"id" is given 2 times`},
		{"no service", "POST", "/v1/commands/order/place", `{"aggregate_id":"o"}`, 404, "not_found", "no service offers cmd.order.place"},
		{"no such query", "GET", "/v1/queries/order/get?id=o", "", 404, "not_found", "no service offers query.order.get"},
		{"unknown path", "GET", "/v2/whatever", "", 404, "not_found", "no such endpoint"},
		{"wrong method", "GET", "/v1/commands/account/deposit", "", 404, "not_found", "no such endpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := do(t, c.method, srv.url+c.path, c.body)
			assert.Equal(t, c.status, status)
			e := body["error"].(map[string]any)
			assert.Equal(t, c.code, e["code"])
			assert.Contains(t, e["message"], c.message)
		})
	}
}
