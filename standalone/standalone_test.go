package standalone

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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/ops"
	"github.com/jetsource/jetsource/service"
	"github.com/jetsource/jetsource/testkit"
)

func TestStandaloneSyncsEveryWriteByDefault(t *testing.T) {
	opts, err := embeddedNATSOptions(config.Default())
	require.NoError(t, err)
	assert.True(t, opts.JetStream)
	assert.True(t, opts.SyncAlways, "acknowledged means on disk unless the operator says otherwise")

	cfg := config.Default()
	cfg.Standalone.Sync = "2m"
	opts, err = embeddedNATSOptions(cfg)
	require.NoError(t, err)
	assert.False(t, opts.SyncAlways)
	assert.Equal(t, 2*time.Minute, opts.SyncInterval)
}

// The single-process mode serves health and metrics on http.listen once,
// for all of its services (it used to bind the port four times and exit).
func TestStandaloneServesHealthOnItsHTTPListen(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	cfg := config.Default()
	cfg.Standalone.DataDir = t.TempDir()
	cfg.Standalone.NATSListen = "127.0.0.1:0"
	cfg.HTTP.GatewayListen = "127.0.0.1:0"
	cfg.HTTP.Listen = addr
	startSamples(t, cfg)
	resp, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// The start-up log shows the servers the process uses: its embedded NATS
// and in-process Redis, not the default URLs it never connects to; a Redis
// configured for the read models is shown.
func TestStandaloneLogsOnlyTheURLsItUses(t *testing.T) {
	started := func(env map[string]string) string {
		var out testkit.SyncBuffer
		err := service.Start(context.Background(), "standalone", nil, func(k string) string { return env[k] }, &out, needs,
			func(context.Context, service.Deps) error { return nil })
		require.NoError(t, err)
		return out.String()
	}
	logged := started(nil)
	assert.Contains(t, logged, `config.nats.url="embedded, on standalone.nats_listen"`)
	assert.Contains(t, logged, "config.standalone.nats_listen=127.0.0.1:4222")
	assert.Contains(t, logged, "config.redis.url=in-process")
	assert.NotContains(t, logged, "nats://", "the default NATS URL is not used")
	assert.NotContains(t, logged, "redis://", "the default Redis URL is not used")

	logged = started(map[string]string{"REDIS_URL": "redis://cache.example:6390/2"})
	assert.Contains(t, logged, "config.redis.url=redis://cache.example:6390/2", "a configured Redis is used, and shown")
	assert.NotContains(t, logged, "nats://")
}

// A taken NATS port is reported as such, at once, not as a server that was
// "not ready" after a wait.
func TestStandaloneSaysItsNATSPortIsTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	cfg := config.Default()
	cfg.Standalone.DataDir = t.TempDir()
	cfg.Standalone.NATSListen = l.Addr().String()
	cfg.HTTP.GatewayListen = "127.0.0.1:0"
	cfg.HTTP.Listen = ""
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	err = Run(context.Background(), samples.Platform(), service.Deps{Config: cfg, Log: log, Health: ops.New(log)}, false, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "address already in use")
	assert.Contains(t, err.Error(), l.Addr().String())
	assert.NotContains(t, err.Error(), "not ready")
}

// The single-process mode runs the samples' process manager in its
// projector: a transfer requested over HTTP completes and moves the money.
func TestStandaloneMovesTheMoneyOfATransfer(t *testing.T) {
	cfg := config.Default()
	cfg.Standalone.DataDir = t.TempDir()
	cfg.Standalone.NATSListen = "127.0.0.1:0"
	cfg.HTTP.GatewayListen = "127.0.0.1:0"
	base := "http://" + startSamples(t, cfg).String()
	send := func(path, body string) {
		resp, err := http.Post(base+"/v1/commands/"+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		reply, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, reply)
	}
	query := func(path string, into any) bool {
		resp, err := http.Get(base + "/v1/queries/" + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out struct{ Data json.RawMessage }
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
			return false
		}
		return json.Unmarshal(out.Data, into) == nil
	}
	send("account/open", `{"aggregate_id":"a","data":{"owner":"ada"}}`)
	send("account/open", `{"aggregate_id":"b","data":{"owner":"bob"}}`)
	send("account/deposit", `{"aggregate_id":"a","data":{"amount":100}}`)
	send("transfer/request", `{"aggregate_id":"t1","data":{"from":"a","to":"b","amount":30}}`)
	var tr struct{ Status string }
	testkit.Eventually(t, 60*time.Second, func() bool { return query("transfer/get?id=t1", &tr) && tr.Status == "completed" },
		"transfer t1 completes")
	var b struct{ Balance int64 }
	testkit.Eventually(t, 20*time.Second, func() bool { return query("account/get?id=b", &b) && b.Balance == 30 },
		"b receives the money")
	var a struct{ Balance int64 }
	require.True(t, query("account/get?id=a", &a))
	assert.Equal(t, int64(70), a.Balance)
}

// startSamples runs the single-process mode of the samples' platform with
// cfg until the test ends and returns its gateway's address once it is up.
func startSamples(t *testing.T, cfg config.Config) net.Addr {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan net.Addr, 1)
	go func() {
		done <- Run(ctx, samples.Platform(), service.Deps{Config: cfg, Log: log, Health: ops.New(log)}, false,
			func(a net.Addr) { ready <- a })
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-ready:
		return a
	case err := <-done:
		t.Fatalf("the single-process mode stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the single-process mode did not come up")
	}
	return nil
}
