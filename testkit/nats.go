package testkit

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// startTimeout bounds how long a server may take to come up.
const startTimeout = 10 * time.Second

// NATS is an embedded nats-server with JetStream, file storage in a temp dir.
type NATS struct {
	t     testing.TB
	mu    sync.Mutex
	srv   *server.Server
	opts  server.Options
	Dir   string
	conns []*nats.Conn
}

// StartNATS starts an embedded nats-server on a random loopback port, with a
// JetStream file store in t.TempDir(). t.Cleanup shuts it down.
//
// Each configure function may change the server's options before it starts
// (e.g. SyncAlways).
func StartNATS(t testing.TB, configure ...func(*server.Options)) *NATS {
	t.Helper()
	n := &NATS{t: t, Dir: t.TempDir()}
	n.opts = server.Options{
		ServerName: "jetsource-test",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   n.Dir,
		NoLog:      true,
		NoSigs:     true,
		// Tests append fast; a generous payload limit is the server's default.
	}
	for _, c := range configure {
		c(&n.opts)
	}
	n.start()
	// The first start picked a port; restarts keep it so clients reconnect.
	n.opts.Port = n.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(n.Shutdown)
	return n
}

func (n *NATS) start() {
	n.t.Helper()
	opts := n.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		n.t.Fatalf("testkit: nats-server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(startTimeout) {
		n.t.Fatalf("testkit: nats-server not ready within %v", startTimeout)
	}
	n.mu.Lock()
	n.srv = srv
	n.mu.Unlock()
}

// URL is the client URL of the server.
func (n *NATS) URL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port)
}

// Server returns the running server.
func (n *NATS) Server() *server.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv
}

// Connect returns a client connection that t.Cleanup closes. Extra options
// are applied after the defaults.
func (n *NATS) Connect(opts ...nats.Option) *nats.Conn {
	n.t.Helper()
	return connect(n.t, n.URL(), opts)
}

// connect connects a test client to url (reconnecting for ever, quickly),
// closed by t.Cleanup.
func connect(t testing.TB, url string, opts []nats.Option) *nats.Conn {
	t.Helper()
	all := append([]nats.Option{nats.Name(t.Name()), nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, opts...)
	nc, err := nats.Connect(url, all...)
	if err != nil {
		t.Fatalf("testkit: connect to nats at %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Shutdown stops the server and waits until it has stopped.
func (n *NATS) Shutdown() {
	n.mu.Lock()
	srv := n.srv
	n.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart stops the server and starts it again on the same port and store
// directory, as after a crash and reboot of the host.
func (n *NATS) Restart() {
	n.t.Helper()
	n.Shutdown()
	n.start()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
