package testkit

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// Eventually waits until cond holds, polling, and fails the test with msg
// when it does not within timeout. Use it instead of sleeps.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("testkit: timed out after %v: %s", timeout, fmt.Sprintf(msg, args...))
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

// QuietBenchmarks runs the tests of a package (call it from TestMain) with
// the default logger silenced when benchmarks run, so that their output is
// benchstat's alone, with no log line interleaved; tests log as before.
func QuietBenchmarks(m *testing.M) int {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	return m.Run()
}
