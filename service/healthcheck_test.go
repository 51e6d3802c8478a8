package service_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/ops"
	"github.com/jetsource/jetsource/service"
)

// serveOps runs an ops server on a free loopback port with the given check
// and returns its port.
func serveOps(t *testing.T, check ops.Check) string {
	t.Helper()
	srv := ops.New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv.AddCheck("nats", check)
	ctx, cancel := context.WithCancel(context.Background())
	bound := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, "0.0.0.0:0", func(a net.Addr) { bound <- a }) }()
	t.Cleanup(func() { cancel(); <-done })
	var a net.Addr
	select {
	case a = <-bound:
	case err := <-done:
		t.Fatalf("ops server: %v", err)
	}
	_, port, err := net.SplitHostPort(a.String())
	require.NoError(t, err)
	return port
}

func TestHealthcheckAsksTheServiceItWouldBe(t *testing.T) {
	var ready error
	port := serveOps(t, func(context.Context) error { return ready })
	env := map[string]string{"JETSOURCE_HTTP_LISTEN": "0.0.0.0:" + port}
	getenv := func(k string) string { return env[k] }

	assert.NoError(t, service.Healthcheck(context.Background(), nil, getenv, service.Needs{}),
		"ready: the wildcard listen address is asked on loopback")

	ready = errors.New("nats: RECONNECTING")
	err := service.Healthcheck(context.Background(), nil, getenv, service.Needs{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "503")
	assert.Contains(t, err.Error(), "nats: RECONNECTING", "says which check failed")

	// A gateway without http.listen is asked on its gateway listener.
	ready = nil
	gateway := map[string]string{"JETSOURCE_HTTP_GATEWAY_LISTEN": "127.0.0.1:" + port}
	assert.NoError(t, service.Healthcheck(context.Background(), nil, func(k string) string { return gateway[k] }, service.Needs{Gateway: true}))
}

func TestHealthcheckFailsWithNothingListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	err = service.Healthcheck(context.Background(), []string{"-http-listen", addr}, func(string) string { return "" }, service.Needs{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connection refused")

	err = service.Healthcheck(context.Background(), nil, func(string) string { return "" }, service.Needs{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "set http.listen", "no listener configured: says which setting")
}
