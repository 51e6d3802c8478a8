package gateway

import "sync"

// longPolls counts, per client, the queries that may wait for the
// projections (with min_sequence or wait_ms) and are still running.
type longPolls struct {
	max    int
	mu     sync.Mutex
	counts map[string]int
}

func newLongPolls(max int) *longPolls {
	return &longPolls{max: max, counts: map[string]int{}}
}

// acquire takes one of client's slots; false when it holds them all.
func (l *longPolls) acquire(client string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts[client] >= l.max {
		return false
	}
	l.counts[client]++
	return true
}

// release gives back a slot acquire took.
func (l *longPolls) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts[client] <= 1 {
		delete(l.counts, client) // the map holds only the clients polling now
		return
	}
	l.counts[client]--
}
