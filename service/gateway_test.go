package service_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/gateway"
	"github.com/jetsource/jetsource/ops"
	"github.com/jetsource/jetsource/service"
	"github.com/jetsource/jetsource/testkit"
)

func TestGatewayWithATokensFileAsksForTokensAndKeepsProbesOpen(t *testing.T) {
	n := testkit.StartNATS(t)
	tok, err := gateway.NewToken()
	require.NoError(t, err)
	hash, err := gateway.HashToken(tok)
	require.NoError(t, err)
	cfg := config.Default()
	cfg.HTTP.GatewayListen = "127.0.0.1:0"
	cfg.Gateway.TokensFile = filepath.Join(t.TempDir(), "tokens.yaml")
	require.NoError(t, os.WriteFile(cfg.Gateway.TokensFile, []byte("tokens:\n  - name: root\n    hash: "+hash+"\n    scopes: [admin]\n"), 0o600))
	base := runGateway(t, service.New(), cfg, n.Connect())
	get := func(path, token string) int {
		req, err := http.NewRequest("GET", base+path, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, get("/healthz", ""), "probes need no token")
	assert.Equal(t, http.StatusUnauthorized, get("/metrics", ""))
	assert.Equal(t, http.StatusOK, get("/metrics", tok), "metrics with the admin scope")
	assert.Equal(t, http.StatusUnauthorized, get("/v1/queries/account/get?id=a", ""))
}

// runGateway runs p's gateway with cfg on nc until the test ends and
// returns its URL.
func runGateway(t *testing.T, p *service.Platform, cfg config.Config, nc *nats.Conn) string {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- p.RunGateway(ctx, cfg, nc, ops.New(log), log, func(a net.Addr) { addr <- a })
	}()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	select {
	case a := <-addr:
		return "http://" + a.String()
	case err := <-done:
		t.Fatalf("RunGateway: %v", err)
		return ""
	}
}

func TestGatewayRefusesToStartWithAnEmptyTokensFile(t *testing.T) {
	n := testkit.StartNATS(t)
	cfg := config.Default()
	cfg.HTTP.GatewayListen = "127.0.0.1:0"
	cfg.Gateway.TokensFile = filepath.Join(t.TempDir(), "tokens.yaml")
	require.NoError(t, os.WriteFile(cfg.Gateway.TokensFile, []byte("tokens: []\n"), 0o600))
	log := slog.New(slog.DiscardHandler)
	err := service.New().RunGateway(context.Background(), cfg, n.Connect(), ops.New(log), log, nil)
	require.ErrorIs(t, err, gateway.ErrBadTokens)
	assert.Contains(t, err.Error(), "tokens.yaml")
}
