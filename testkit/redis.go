package testkit

import (
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

	"github.com/redis/go-redis/v9"
)

// Redis is a private redis-server, or the server named by REDIS_URL.
type Redis struct {
	URL  string
	Addr string

	// Of a private server only: what Restart needs, and the running process.
	bin, dir string
	port     int
	// args are more redis-server arguments (a cluster node's).
	args   []string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error
}

// ErrNotPrivate means Kill or Restart was called on the Redis named by
// REDIS_URL, which the tests do not own.
var ErrNotPrivate = errors.New("testkit: not a private redis-server (REDIS_URL)")

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
			t.Fatalf("testkit: redis-server is not on PATH and REDIS_URL is not set: install it (apt-get install redis-server) or point REDIS_URL at a Redis the tests may flush")
		}
		r := &Redis{URL: url}
		c := r.Client(t)
		if err := c.FlushDB(context.Background()).Err(); err != nil {
			t.Fatalf("testkit: REDIS_URL %s: %v", url, err)
		}
		return r
	}
	return startPrivate(t, bin, "/0", nil)
}

// startPrivate starts a private server of bin on a free loopback port, with
// more arguments from args (given the port, and a second free port), stopped
// by t.Cleanup; its URL ends in path.
func startPrivate(t testing.TB, bin, path string, args func(second int) []string) *Redis {
	t.Helper()
	var lastErr error
	// A free port can be taken between probing and binding: try a few.
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testkit: %v", err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		r := &Redis{URL: "redis://" + addr + path, Addr: addr, bin: bin, dir: t.TempDir(), port: port}
		if args != nil {
			second, err := freePort()
			if err != nil {
				t.Fatalf("testkit: %v", err)
			}
			r.args = args(second)
		}
		if lastErr = r.start(); lastErr == nil {
			t.Cleanup(func() { _ = r.Kill() })
			return r
		}
	}
	t.Fatalf("testkit: %s did not start: %v", filepath.Base(bin), lastErr)
	return nil
}

// start runs redis-server on r's port and waits until it answers PING.
func (r *Redis) start() error {
	args := append([]string{
		"--bind", "127.0.0.1",
		"--port", strconv.Itoa(r.port),
		"--save", "",
		"--appendonly", "no",
		"--dir", r.dir,
		"--logfile", filepath.Join(r.dir, "redis.log"),
		"--daemonize", "no",
	}, r.args...)
	cmd := exec.Command(r.bin, args...)
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
		return fmt.Errorf("testkit: kill redis-server: %w", err)
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
		return fmt.Errorf("testkit: restart redis-server on %s: still running, Kill it first", r.Addr)
	}
	if err := r.start(); err != nil {
		return fmt.Errorf("testkit: restart redis-server on %s: %w", r.Addr, err)
	}
	return nil
}

// Client returns a client of the server that t.Cleanup closes.
func (r *Redis) Client(t testing.TB) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(r.URL)
	if err != nil {
		t.Fatalf("testkit: redis url %q: %v", r.URL, err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func tail(b []byte) string {
	const keep = 500
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return string(b)
}
