package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/gateway"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

// answers is a Browser of fixed answers, for the gateway's side of the
// event browser: routes, scopes, errors and the event stream. The answers
// from a real event store are service/browser_test.go's.
type answers struct {
	// err, when set, is every read's error.
	err  error
	live chan gateway.LiveEvent
}

func (a answers) Types() []string { return []string{"order"} }

func (a answers) History(_ context.Context, ref streams.Ref) (any, error) {
	if a.err != nil {
		return nil, a.err
	}
	return map[string]any{"id": ref.ID(), "events": []any{}}, nil
}

func (a answers) State(_ context.Context, ref streams.Ref, v streams.Version) (any, error) {
	if a.err != nil {
		return nil, a.err
	}
	return map[string]any{"id": ref.ID(), "version": v}, nil
}

func (a answers) Projections(context.Context) (any, error) {
	if a.err != nil {
		return nil, a.err
	}
	return map[string]any{"projections": []any{}}, nil
}

func (a answers) Tail(ctx context.Context, ready func(), send func(gateway.LiveEvent) error) error {
	ready()
	for {
		select {
		case ev := <-a.live:
			if err := send(ev); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		}
	}
}

var adminEndpoints = []string{
	"/v1/admin/types",
	"/v1/admin/aggregates/order/7dd8/events",
	"/v1/admin/aggregates/order/7dd8/state?version=3",
	"/v1/admin/projections",
}

func get(t *testing.T, token, url string) (*http.Response, string) {
	t.Helper()
	resp, body := request(t, token, "GET", url, "")
	return resp, string(body)
}

func TestBrowserIsOffUnlessEnabled(t *testing.T) {
	f := startGateway(t)
	for _, path := range append([]string{"/ui/", "/v1/admin/live"}, adminEndpoints...) {
		resp, _ := get(t, "", f.url+path)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, path)
	}
}

// The page is one HTML file, its script and its style, from the binary;
// none of them names another origin, and the page's policy allows none.
func TestBrowserPageIsEmbeddedAndNeedsNothingElse(t *testing.T) {
	f := startGateway(t, gateway.WithBrowser(answers{}))
	resp, body := get(t, "", f.url+"/ui/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'none'; script-src 'self'")
	assert.Contains(t, body, `<script src="browser.js"`)
	assert.Contains(t, body, `<link rel="stylesheet" href="browser.css">`)
	for _, file := range []string{"browser.js", "browser.css"} {
		resp, _ := get(t, "", f.url+"/ui/"+file)
		assert.Equal(t, http.StatusOK, resp.StatusCode, file)
	}
	resp, _ = get(t, "", f.url+"/ui")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "/ui is redirected to /ui/")
	assert.Equal(t, "/ui/", resp.Request.URL.Path)

	err := filepath.WalkDir("ui", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		for _, other := range []string{"http://", "https://", "//cdn", "@import", "fonts.g"} {
			assert.NotContains(t, string(data), other, "%s names another origin", path)
		}
		return nil
	})
	require.NoError(t, err)
}

func TestBrowserEndpointsNeedTheAdminScope(t *testing.T) {
	adminTok, adminEntry := staticToken(t, "operator", gateway.ScopeAdmin)
	readerTok, readerEntry := staticToken(t, "dashboard", gateway.ScopeAllQueries, gateway.ScopeAllCommands)
	f := startGateway(t, gateway.WithTokens(adminEntry, readerEntry), gateway.WithBrowser(answers{}))
	for _, path := range append([]string{"/v1/admin/live"}, adminEndpoints...) {
		status, _, body := doAs(t, "", "GET", f.url+path, "")
		assert.Equal(t, http.StatusUnauthorized, status, path)
		code, _ := errorOf(t, body)
		assert.Equal(t, "unauthorized", code)
		status, _, body = doAs(t, readerTok, "GET", f.url+path, "")
		assert.Equal(t, http.StatusForbidden, status, path)
		_, message := errorOf(t, body)
		assert.Contains(t, message, "lacks the scope admin")
	}
	for _, path := range adminEndpoints {
		status, _, _ := doAs(t, adminTok, "GET", f.url+path, "")
		assert.Equal(t, http.StatusOK, status, path)
	}
	resp, _ := get(t, "", f.url+"/ui/")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the page holds no data: it is open")
}

func TestBrowserRefusesBadAggregatesAndVersions(t *testing.T) {
	f := startGateway(t, gateway.WithBrowser(answers{}))
	for path, want := range map[string]string{
		"/v1/admin/aggregates/Order/7dd8/events":            "invalid",
		"/v1/admin/aggregates/order/7d%2Ad8/events":         "invalid",
		"/v1/admin/aggregates/order/7dd8/state":             `version must be a positive integer, got ""`,
		"/v1/admin/aggregates/order/7dd8/state?version=0":   `version must be a positive integer, got "0"`,
		"/v1/admin/aggregates/order/7dd8/state?version=-1":  `got "-1"`,
		"/v1/admin/aggregates/order/7dd8/state?version=abc": `got "abc"`,
	} {
		status, body := do(t, "GET", f.url+path, "")
		assert.Equal(t, http.StatusBadRequest, status, path)
		code, message := errorOf(t, body)
		assert.Equal(t, "bad_request", code, path)
		assert.Contains(t, message, want, path)
	}
}

func TestBrowserErrorsKeepTheContractsStatuses(t *testing.T) {
	for err, want := range map[error]int{
		fmt.Errorf("%w: order/x has no events", gateway.ErrNotFound):   http.StatusNotFound,
		fmt.Errorf("%w: no projector answers", gateway.ErrUnavailable): http.StatusServiceUnavailable,
		fmt.Errorf("load: %w", streams.ErrInvalidRef):                  http.StatusBadRequest,
		fmt.Errorf("a bug"): http.StatusInternalServerError,
		fmt.Errorf("read: %w", context.DeadlineExceeded):                   http.StatusServiceUnavailable,
		fmt.Errorf("%w: version 9 is past the end", gateway.ErrBadRequest): http.StatusBadRequest,
	} {
		f := startGateway(t, gateway.WithBrowser(answers{err: err}))
		for _, path := range adminEndpoints[1:] {
			status, body := do(t, "GET", f.url+path, "")
			assert.Equal(t, want, status, "%s: %v", path, err)
			_, message := errorOf(t, body)
			if want == http.StatusInternalServerError {
				assert.NotContains(t, message, "a bug", "an internal error is logged, not told")
			} else {
				assert.Contains(t, message, err.Error())
			}
		}
	}
}

// The live events are Server-Sent Events: ready once the tail follows, then
// each event with its sequence as id; a gateway that stops ends the stream
// instead of waiting for the client to go.
func TestLiveEventsStreamUntilTheGatewayStops(t *testing.T) {
	n := testkit.StartNATS(t)
	live := make(chan gateway.LiveEvent)
	gw, err := gateway.New(n.Connect(), gateway.WithLogger(slog.New(slog.DiscardHandler)), gateway.WithBrowser(answers{live: live}),
		gateway.WithMaxLongPolls(1))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, "127.0.0.1:0", func(a net.Addr) { addr <- a }) }()
	resp, err := http.Get("http://" + (<-addr).String() + "/v1/admin/live")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	lines := bufio.NewReader(resp.Body)
	block := func() string {
		var b strings.Builder
		for {
			line, err := lines.ReadString('\n')
			require.NoError(t, err)
			if line == "\n" {
				return b.String()
			}
			b.WriteString(line)
		}
	}
	assert.Equal(t, "event: ready\ndata: {}\n", block())
	live <- gateway.LiveEvent{Sequence: 42, Event: map[string]any{"type": "OrderPlaced", "subject": "events.order.7dd8"}}
	assert.Equal(t, "id: 42\ndata: {\"subject\":\"events.order.7dd8\",\"type\":\"OrderPlaced\"}\n", block())

	// A stream holds one of the client's long polls: past them, 429.
	status, body := do(t, "GET", "http://"+resp.Request.URL.Host+"/v1/admin/live", "")
	assert.Equal(t, http.StatusTooManyRequests, status)
	code, _ := errorOf(t, body)
	assert.Equal(t, "too_many_requests", code)

	cancel()
	_, err = io.ReadAll(lines)
	require.NoError(t, err, "the stream ends cleanly")
	// Shutdown waits for open requests, up to ShutdownTimeout, and Serve
	// reports one that did not end then.
	require.NoError(t, <-served)
}
