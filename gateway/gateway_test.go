package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/gateway"
	"github.com/jetsource/jetsource/testkit"
)

// echoService answers cmd.account.* by echoing the subject and body, and
// fails cmd.account.withdraw with a 422 as the writer would.
func startGateway(t *testing.T, opts ...gateway.Option) *httptest.Server {
	t.Helper()
	n := testkit.StartNATS(t)
	nc := n.Connect()
	svc, err := micro.AddService(nc, micro.Config{Name: "echo", Version: "0.0.1"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Stop() })
	echo := micro.HandlerFunc(func(r micro.Request) {
		if r.Subject() == "cmd.account.withdraw" {
			_ = r.Error("422", "rejected: insufficient funds", []byte(`{"error":{"code":"rejected","message":"insufficient funds"}}`))
			return
		}
		_ = r.RespondJSON(map[string]any{"subject": r.Subject(), "body": json.RawMessage(r.Data())})
	})
	require.NoError(t, svc.AddEndpoint("cmd", echo, micro.WithEndpointSubject("cmd.account.*")))
	require.NoError(t, svc.AddEndpoint("query", echo, micro.WithEndpointSubject("query.account.*")))
	// The gateway uses another connection: the server must have registered the
	// echo service's subscriptions before the first request, or it answers
	// "no responders". A flush round trip on the subscribing connection
	// guarantees that.
	require.NoError(t, nc.Flush())
	srv := httptest.NewServer(gateway.New(n.Connect(), opts...))
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "body %s", raw)
	return resp.StatusCode, out
}

func TestCommandIsForwardedToItsSubject(t *testing.T) {
	srv := startGateway(t)
	status, body := do(t, "POST", srv.URL+"/v1/commands/account/deposit", `{"aggregate_id":"acc-1","data":{"amount":5}}`)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "cmd.account.deposit", body["subject"])
	assert.Equal(t, map[string]any{"aggregate_id": "acc-1", "data": map[string]any{"amount": float64(5)}}, body["body"])
}

func TestServiceErrorCodeBecomesHTTPStatus(t *testing.T) {
	srv := startGateway(t)
	status, body := do(t, "POST", srv.URL+"/v1/commands/account/withdraw", `{"aggregate_id":"acc-1","data":{"amount":5}}`)
	assert.Equal(t, http.StatusUnprocessableEntity, status)
	assert.Equal(t, "rejected", body["error"].(map[string]any)["code"])
}

func TestQueryParamsTravelAsJSON(t *testing.T) {
	srv := startGateway(t)
	status, body := do(t, "GET", srv.URL+"/v1/queries/account/get?id=acc-1&min_sequence=12&wait_ms=500", "")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "query.account.get", body["subject"])
	assert.Equal(t, map[string]any{"id": "acc-1", "min_sequence": float64(12), "wait_ms": float64(500)}, body["body"])
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
			status, body := do(t, c.method, srv.URL+c.path, c.body)
			assert.Equal(t, c.status, status)
			e := body["error"].(map[string]any)
			assert.Equal(t, c.code, e["code"])
			assert.Contains(t, e["message"], c.message)
		})
	}
}
