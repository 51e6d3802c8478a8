package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/config"
	"github.com/jetsource/jetsource/streams"
	"github.com/jetsource/jetsource/testkit"
)

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestServiceStartsBeforeNATSIsUpAndLogsItsConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	rd := testkit.StartRedis(t)

	logs := &testkit.SyncBuffer{}
	ran := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Start(ctx, "writer", nil, envOf(map[string]string{
			"NATS_URL": fmt.Sprintf("nats://127.0.0.1:%d", port), "REDIS_URL": rd.URL,
		}), logs, Needs{Redis: true}, func(ctx context.Context, d Deps) error {
			ran <- d.Redis.Ping(ctx).Err()
			<-ctx.Done()
			return nil
		})
	}()
	testkit.Eventually(t, 10*time.Second, func() bool { return strings.Contains(logs.String(), "NATS not reachable yet") },
		"the service says it waits for NATS")
	select {
	case err := <-done:
		t.Fatalf("the service gave up while NATS was not up yet: %v", err)
	default:
	}
	n := testkit.StartNATS(t, func(o *server.Options) { o.Port = port })
	select {
	case err := <-ran:
		require.NoError(t, err)
	case err := <-done:
		t.Fatalf("the service stopped instead of connecting: %v\n%s", err, logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("the service did not connect once NATS was up\n%s", logs)
	}
	assert.Contains(t, logs.String(), "NATS reachable")

	// A server restart is logged: disconnect, then reconnect.
	n.Restart()
	testkit.Eventually(t, 10*time.Second, func() bool {
		s := logs.String()
		return strings.Contains(s, "NATS disconnected") && strings.Contains(s, "NATS reconnected")
	}, "disconnect and reconnect are logged:\n%s", logs)
	cancel()
	require.NoError(t, <-done)
}

func TestServiceRefusesAWrongRedisPasswordAtOnce(t *testing.T) {
	n := testkit.StartNATS(t)
	rd := testkit.StartRedis(t)
	require.NoError(t, rd.Client(t).ConfigSet(context.Background(), "requirepass", "right").Err())
	url := strings.Replace(rd.URL, "redis://", "redis://:wrong@", 1)
	err := Start(context.Background(), "reader", nil, envOf(map[string]string{"NATS_URL": n.URL(), "REDIS_URL": url}),
		io.Discard, Needs{Redis: true}, func(context.Context, Deps) error {
			t.Fatal("the service ran with a refused password")
			return nil
		})
	require.ErrorIs(t, err, ErrRedisAuth, "refused credentials are a setting to fix, not a server to wait for")
	assert.Contains(t, err.Error(), "check the user and password")
	assert.NotContains(t, err.Error(), "wrong", "the password never appears in the error")
}

// A service whose store is not available yet (JetStream down, a fresh
// cluster still electing the stream's leader) waits for it instead of
// exiting; the operator's tool (OpenStoreOnce) fails at once instead.
func TestOpenStoreWaitsWhileTheStoreIsUnavailable(t *testing.T) {
	n := testkit.StartNATS(t)
	nc := n.Connect()
	cfg := config.Default()
	cfg.NATS.RequestTimeout = 200 * time.Millisecond
	logs := &testkit.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	n.Shutdown()

	_, err := OpenStoreOnce(context.Background(), cfg, nc, log)
	require.ErrorIs(t, err, streams.ErrUnavailable, "the tool's open fails at once")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opened := make(chan error, 1)
	go func() {
		_, err := OpenStore(ctx, cfg, nc, log)
		opened <- err
	}()
	testkit.Eventually(t, 10*time.Second, func() bool { return strings.Contains(logs.String(), "event store not available yet") },
		"the service says it waits for the store")
	select {
	case err := <-opened:
		t.Fatalf("the open gave up while the store was down: %v", err)
	default:
	}
	n.Restart()
	select {
	case err := <-opened:
		require.NoError(t, err)
	case <-time.After(45 * time.Second):
		t.Fatalf("the store did not open once NATS was back\n%s", logs)
	}
	js, err := jetstream.New(n.Connect())
	require.NoError(t, err)
	_, err = js.Stream(context.Background(), cfg.Store.Stream)
	require.NoError(t, err, "the stream was provisioned")
}
