package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/gateway"
	"github.com/jetsource/jetsource/ops"
	"github.com/jetsource/jetsource/testkit"
)

// updateScreenshot rewrites the README's screenshot of the event browser.
var updateScreenshot = flag.Bool("update-screenshot", false, "write the event browser's screenshot to docs/event-browser.png")

// screenshotPath is the README's screenshot of the event browser.
const screenshotPath = "../docs/event-browser.png"

// chromiumPath is Debian's chromium (apt-get install chromium).
const chromiumPath = "/usr/bin/chromium"

// chromium returns the chromium binary; without one the test is skipped,
// except in CI (CI set), where .ci/run installs it and its absence fails.
func chromium(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if _, err := os.Stat(chromiumPath); err == nil {
		return chromiumPath
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no chromium on PATH nor at %s, and CI is set: .ci/run installs it (apt-get install -y chromium)", chromiumPath)
	}
	t.Skipf("no chromium on PATH nor at %s: apt-get install -y chromium to run the event browser test", chromiumPath)
	return ""
}

// browserTab starts a headless chromium with a fresh profile and returns a
// tab's context; it is stopped when the test ends.
func browserTab(t *testing.T) context.Context {
	t.Helper()
	exe := chromium(t)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1400, 1000),
	)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	return tab
}

// platform runs the samples' writer, projector, reader and gateway (with the
// event browser and a token of scope admin) on a private NATS and Redis,
// and returns the gateway's URL and the token.
func platform(t *testing.T) (base, token string) {
	t.Helper()
	n := testkit.StartNATS(t)
	r := testkit.StartRedis(t)
	tok, err := gateway.NewToken()
	require.NoError(t, err)
	hash, err := gateway.HashToken(tok)
	require.NoError(t, err)
	cfg := config.Default()
	cfg.NATS.URL = n.URL()
	cfg.Redis.URL = r.URL
	cfg.HTTP.GatewayListen = "127.0.0.1:0"
	cfg.Gateway.Browser = true
	cfg.Gateway.TokensFile = filepath.Join(t.TempDir(), "tokens.yaml")
	cfg.Projector.FetchWait = 50 * time.Millisecond
	cfg.Reader.Live = true
	require.NoError(t, os.WriteFile(cfg.Gateway.TokensFile, []byte("tokens:\n  - name: operator\n    hash: "+hash+"\n    scopes: [admin]\n"), 0o600))
	log := slog.New(slog.DiscardHandler)
	p := samples.Platform()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	run := func(name string, f func() error) {
		wg.Go(func() {
			if err := f(); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	rdb := r.Client(t)
	run("writer", func() error { return p.RunWriter(ctx, cfg, n.Connect(), ops.New(log), log) })
	run("projector", func() error { return p.RunProjector(ctx, cfg, n.Connect(), rdb, ops.New(log), log) })
	run("reader", func() error { return p.RunReader(ctx, cfg, n.Connect(), rdb, ops.New(log), log) })
	addr := make(chan net.Addr, 1)
	run("gateway", func() error {
		return p.RunGateway(ctx, cfg, n.Connect(), ops.New(log), log, func(a net.Addr) { addr <- a })
	})
	select {
	case a := <-addr:
		base = "http://" + a.String()
	case err := <-errs:
		t.Fatal(err)
	case <-time.After(20 * time.Second):
		t.Fatal("the gateway did not start")
	}
	return base, tok
}

// send posts a command through the gateway, retrying while the writer is
// not there yet (404: no service offers it), and returns its reply.
func send(t *testing.T, base, token, typ, command, body string) map[string]any {
	t.Helper()
	var reply map[string]any
	testkit.Eventually(t, 10*time.Second, func() bool {
		req, err := http.NewRequest("POST", base+"/v1/commands/"+typ+"/"+command, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		if resp.StatusCode == http.StatusNotFound && bytes.Contains(data, []byte("no service offers")) {
			return false
		}
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s %s: %s", typ, command, data)
		require.NoError(t, json.Unmarshal(data, &reply))
		return true
	}, "the writer serves %s.%s", typ, command)
	return reply
}

// seedOrder is the seed talk's order 7dd8, as the README's quick start
// sends it.
var seedOrder = []struct{ command, body string }{
	{"place", `{"aggregate_id":"7dd8"}`},
	{"add_item", `{"aggregate_id":"7dd8","data":{"item_id":"9a37","quantity":3}}`},
	{"add_item", `{"aggregate_id":"7dd8","data":{"item_id":"c52a","quantity":1}}`},
	{"remove_item", `{"aggregate_id":"7dd8","data":{"item_id":"c52a"}}`},
	{"add_item", `{"aggregate_id":"7dd8","data":{"item_id":"a974","quantity":10}}`},
	{"change_quantity", `{"aggregate_id":"7dd8","data":{"item_id":"9a37","quantity":5}}`},
}

// shown is what the page shows: its timeline, state and projections.
type shown struct {
	Events []struct {
		Version string `json:"version"`
		Type    string `json:"type"`
		Payload string `json:"payload"`
	} `json:"events"`
	Version     string `json:"version"`
	State       string `json:"state"`
	Projections []struct {
		Name, Status, Lag, Failed string
	} `json:"projections"`
	LiveStatus string `json:"live_status"`
	Live       []string
}

// readPage is the script that reads what the page shows.
const readPage = `(() => {
	const text = (el, sel) => el.querySelector(sel).textContent;
	return {
		events: [...document.querySelectorAll("#timeline tbody tr")].map(tr => ({
			version: text(tr, ".version"), type: text(tr, ".type"), payload: text(tr, ".payload")})),
		version: document.querySelector("#version").textContent,
		state: document.querySelector("#state").textContent,
		projections: [...document.querySelectorAll("#projections tbody tr")].map(tr => ({
			Name: text(tr, ".name"), Status: text(tr, ".status"), Lag: text(tr, ".lag"), Failed: text(tr, ".failed")})),
		live_status: document.querySelector("#live-status").textContent,
		Live: [...document.querySelectorAll("#live li")].map(li => li.textContent),
	};
})()`

// orderState is the order aggregate's state as the page shows it.
type orderState struct {
	Items []struct {
		ItemID   string `json:"item_id"`
		Quantity int64  `json:"quantity"`
	} `json:"items"`
}

func (s shown) items(t *testing.T) map[string]int64 {
	t.Helper()
	var st orderState
	require.NoError(t, json.Unmarshal([]byte(s.State), &st), "the state shown: %q", s.State)
	out := map[string]int64{}
	for _, it := range st.Items {
		out[it.ItemID] = it.Quantity
	}
	return out
}

// The event browser in a real headless chromium: the seed's order 7dd8, its
// six events, its state at the last version and at version 3, the
// projections with no lag, and a live event.
func TestEventBrowserShowsTheSeedOrder(t *testing.T) {
	tab := browserTab(t)
	base, token := platform(t)
	var last float64
	for _, c := range seedOrder {
		last = send(t, base, token, "order", c.command, c.body)["sequence"].(float64)
	}

	ctx, cancel := context.WithTimeout(tab, 25*time.Second)
	defer cancel()
	read := func(until func(shown) bool, what string) shown {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s, err := chromedp.Run(ctx, chromedp.Evaluate[shown](readPage))
			require.NoError(t, err)
			if until(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page never showed %s; it shows %+v", what, s)
			}
			require.NoError(t, chromedp.Do(ctx, chromedp.Sleep(50*time.Millisecond)))
		}
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+gateway.BrowserPath),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Focus(chromedp.ID("type")), // the token field's change event
		chromedp.SendKeys(chromedp.ID("type"), "order"),
		chromedp.SendKeys(chromedp.ID("id"), "7dd8"),
		chromedp.Click(chromedp.ID("lookup")),
	))

	s := read(func(s shown) bool { return len(s.Events) == 6 && s.Version == "6" }, "six events at version 6")
	var types []string
	for i, ev := range s.Events {
		assert.Equal(t, fmt.Sprint(i+1), ev.Version)
		types = append(types, ev.Type)
	}
	assert.Equal(t, []string{"OrderPlaced", "OrderItemAdded", "OrderItemAdded", "OrderItemRemoved", "OrderItemAdded", "OrderItemQuantityChanged"}, types)
	assert.Contains(t, s.Events[1].Payload, `"9a37"`)
	assert.Equal(t, map[string]int64{"9a37": 5, "a974": 10}, s.items(t), "the state at the last version")

	// Back in time: version 4 (c52a removed), then 3 (c52a just added).
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("prev")), chromedp.Click(chromedp.ID("prev"))))
	s = read(func(s shown) bool { return s.Version == "4" }, "version 4")
	assert.Equal(t, map[string]int64{"9a37": 3}, s.items(t), "the state at version 4")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("prev"))))
	s = read(func(s shown) bool { return s.Version == "3" }, "version 3")
	assert.Equal(t, map[string]int64{"9a37": 3, "c52a": 1}, s.items(t), "the state at version 3")

	s = read(func(s shown) bool {
		for _, p := range s.Projections {
			if p.Name == "orders" && p.Lag == "0" && p.Status == "running" {
				return true
			}
		}
		return false
	}, "the orders projection running with lag 0")
	for _, p := range s.Projections {
		assert.Equal(t, "0", p.Lag, "projection %s", p.Name)
		assert.Empty(t, p.Failed, "projection %s", p.Name)
	}

	read(func(s shown) bool { return s.LiveStatus == "following" }, "the live events followed")
	// A live query from the page: order.get of 7dd8 as Server-Sent Events,
	// read with fetch (EventSource cannot send the token).
	tokenJS, err := json.Marshal(token)
	require.NoError(t, err)
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		window.liveAnswers = [];
		fetch('/v1/live/order/get?id=7dd8', {headers: {Authorization: 'Bearer ' + `+string(tokenJS)+`}}).then(async r => {
			const rd = r.body.getReader(), dec = new TextDecoder();
			let buf = '';
			for (;;) {
				const {value, done} = await rd.read();
				if (done) break;
				buf += dec.decode(value, {stream: true});
				let i;
				while ((i = buf.indexOf('\n\n')) >= 0) { window.liveAnswers.push(buf.slice(0, i)); buf = buf.slice(i + 2); }
			}
		});
		return true;
	})()`))
	require.NoError(t, err)
	liveAnswers := func(want string) []string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.liveAnswers`))
			require.NoError(t, err)
			if len(got) > 0 && strings.Contains(got[len(got)-1], want) || time.Now().After(deadline) {
				return got
			}
			require.NoError(t, chromedp.Do(ctx, chromedp.Sleep(50*time.Millisecond)))
		}
	}
	answers := liveAnswers(`"a974"`)
	require.NotEmpty(t, answers, "the page received the current answer of order.get")
	assert.Contains(t, answers[0], "event: answer")
	assert.Contains(t, answers[0], `"quantity":5`)
	next := send(t, base, token, "order", "add_item", `{"aggregate_id":"7dd8","data":{"item_id":"5b1e","quantity":2}}`)
	require.Greater(t, next["sequence"].(float64), last)
	s = read(func(s shown) bool { return len(s.Live) > 0 }, "a live event")
	assert.Contains(t, s.Live[0], "OrderItemAdded")
	assert.Contains(t, s.Live[0], "order 7dd8")
	assert.Contains(t, s.Live[0], `"5b1e"`)
	answers = liveAnswers(`"5b1e"`)
	require.Len(t, answers, 2, "the current answer, then the answer after add_item: %v", answers)
	assert.Contains(t, answers[1], `"item_id":"5b1e","quantity":2`)
	assert.Contains(t, answers[1], fmt.Sprintf("id: %d", int64(next["sequence"].(float64))), "the answer's sequence is the command's")

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(png, []byte("\x89PNG")), "a PNG screenshot")
	if *updateScreenshot {
		require.NoError(t, os.WriteFile(screenshotPath, png, 0o644))
	}
}

// Without a projector, or for an aggregate that is not there, the browser's
// endpoints say what is missing.
func TestEventBrowserSaysWhatIsMissing(t *testing.T) {
	n := testkit.StartNATS(t)
	cfg := config.Default()
	cfg.HTTP.GatewayListen = "127.0.0.1:0"
	cfg.Gateway.Browser = true
	base := runGateway(t, samples.Platform(), cfg, n.Connect()) + gateway.AdminPath
	for path, want := range map[string]struct {
		status  int
		message string
	}{
		"projections":                           {http.StatusServiceUnavailable, "no projector answers on jetsource.projector.status"},
		"aggregates/order/nope/events":          {http.StatusNotFound, "order/nope has no events"},
		"aggregates/order/nope/state?version=1": {http.StatusNotFound, "order/nope has no events"},
		"aggregates/ship/s-1/events":            {http.StatusNotFound, `unknown aggregate type "ship" (registered: account, order, product, transfer, user)`},
		"aggregates/ship/s-1/state?version=1":   {http.StatusNotFound, `unknown aggregate type "ship"`},
	} {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		var body struct {
			Error struct{ Code, Message string }
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		resp.Body.Close()
		assert.Equal(t, want.status, resp.StatusCode, path)
		assert.Contains(t, body.Error.Message, want.message, path)
	}
}
