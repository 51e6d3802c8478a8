// Package testenv starts the real infrastructure tests run against: an
// embedded nats-server with JetStream per test, and a private redis-server
// per test. Nothing here mocks NATS or Redis.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
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
		n.t.Fatalf("testenv: nats-server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(startTimeout) {
		n.t.Fatalf("testenv: nats-server not ready within %v", startTimeout)
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
		t.Fatalf("testenv: connect to nats at %s: %v", url, err)
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

// Redis is a private redis-server, or the server named by REDIS_URL.
type Redis struct {
	URL  string
	Addr string

	// Of a private server only: what Restart needs, and the running process.
	bin, dir string
	port     int
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan error
}

// ErrNotPrivate means Kill or Restart was called on the Redis named by
// REDIS_URL, which the tests do not own.
var ErrNotPrivate = errors.New("testenv: not a private redis-server (REDIS_URL)")

// StartRedis starts a private redis-server on a random loopback port, with
// no persistence, stopped by t.Cleanup. Without redis-server on PATH it uses
// REDIS_URL (flushing that database first), and fails the test with install
// instructions when neither is there.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		url := os.Getenv("REDIS_URL")
		if url == "" {
			t.Fatalf("testenv: redis-server is not on PATH and REDIS_URL is not set: install it (apt-get install redis-server) or point REDIS_URL at a Redis the tests may flush")
		}
		r := &Redis{URL: url}
		c := r.Client(t)
		if err := c.FlushDB(context.Background()).Err(); err != nil {
			t.Fatalf("testenv: REDIS_URL %s: %v", url, err)
		}
		return r
	}
	var lastErr error
	// A free port can be taken between probing and binding: try a few.
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		r := &Redis{URL: "redis://" + addr + "/0", Addr: addr, bin: bin, dir: t.TempDir(), port: port}
		if lastErr = r.start(); lastErr == nil {
			t.Cleanup(func() { _ = r.Kill() })
			return r
		}
	}
	t.Fatalf("testenv: redis-server did not start: %v", lastErr)
	return nil
}

// start runs redis-server on r's port and waits until it answers PING.
func (r *Redis) start() error {
	cmd := exec.Command(r.bin,
		"--bind", "127.0.0.1",
		"--port", strconv.Itoa(r.port),
		"--save", "",
		"--appendonly", "no",
		"--dir", r.dir,
		"--logfile", filepath.Join(r.dir, "redis.log"),
		"--daemonize", "no",
	)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			return fmt.Errorf("redis-server exited: %v: %s", err, tail(log))
		default:
		}
		c := redis.NewClient(&redis.Options{Addr: r.Addr})
		err := c.Ping(context.Background()).Err()
		c.Close()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s not ready: %v", r.Addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.mu.Lock()
	r.cmd, r.exited = cmd, exited
	r.mu.Unlock()
	return nil
}

// Kill SIGKILLs the private redis-server and waits until it has exited, as
// a crash would. It keeps nothing on disk, so every key is gone. Killing a
// server that is not running does nothing.
func (r *Redis) Kill() error {
	if r.bin == "" {
		return ErrNotPrivate
	}
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.cmd, r.exited = nil, nil
	r.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Kill(); err != nil {
		return fmt.Errorf("testenv: kill redis-server: %w", err)
	}
	<-exited
	return nil
}

// Restart starts a new, empty redis-server on the same port and address
// after Kill, as a crashed Redis without persistence comes back. It fails
// when the server is still running.
func (r *Redis) Restart() error {
	if r.bin == "" {
		return ErrNotPrivate
	}
	r.mu.Lock()
	running := r.cmd != nil
	r.mu.Unlock()
	if running {
		return fmt.Errorf("testenv: restart redis-server on %s: still running, Kill it first", r.Addr)
	}
	if err := r.start(); err != nil {
		return fmt.Errorf("testenv: restart redis-server on %s: %w", r.Addr, err)
	}
	return nil
}

// Client returns a client of the server that t.Cleanup closes.
func (r *Redis) Client(t testing.TB) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(r.URL)
	if err != nil {
		t.Fatalf("testenv: redis url %q: %v", r.URL, err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte) string {
	const keep = 500
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return string(b)
}

// Eventually waits until cond holds, polling, and fails the test with msg
// when it does not within timeout. Use it instead of sleeps.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("testenv: timed out after %v: %s", timeout, fmt.Sprintf(msg, args...))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// SyncBuffer is a bytes.Buffer that goroutines (a logger, a child process'
// output) may write while a test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
