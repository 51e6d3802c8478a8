package standalone

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/domain/samples"
	"github.com/jetsource/jetsource/ops"
	"github.com/jetsource/jetsource/service"
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
	case <-ready:
	case err := <-done:
		t.Fatalf("the single-process mode stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the single-process mode did not come up")
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
