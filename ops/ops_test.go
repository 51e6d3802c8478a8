package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/ops"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	s := ops.New(nil)
	var natsDown atomic.Bool
	s.AddCheck("nats", func(context.Context) error {
		if natsDown.Load() {
			return errors.New("nats: connection closed")
		}
		return nil
	})
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "jetsource_test_total", Help: "test"})
	s.Registry.MustRegister(c)
	c.Add(3)

	ctx, cancel := context.WithCancel(context.Background())
	addrCh := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, "127.0.0.1:0", func(a net.Addr) { addrCh <- a }) }()
	base := "http://" + (<-addrCh).String()

	status, body := get(t, base+"/healthz")
	assert.Equal(t, 200, status)
	assert.JSONEq(t, `{"status":"ok"}`, body)

	status, body = get(t, base+"/readyz")
	assert.Equal(t, 200, status)
	assert.JSONEq(t, `{"nats":"ok"}`, body)

	natsDown.Store(true)
	status, body = get(t, base+"/readyz")
	assert.Equal(t, 503, status)
	var m map[string]string
	require.NoError(t, json.Unmarshal([]byte(body), &m))
	assert.Equal(t, "nats: connection closed", m["nats"])

	status, body = get(t, base+"/metrics")
	assert.Equal(t, 200, status)
	assert.Contains(t, body, "jetsource_test_total 3")
	assert.Contains(t, body, "go_goroutines")

	cancel()
	require.NoError(t, <-done)
}
