package projections

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Members is the set of the runners that run a partitioned projection, kept
// in Redis so that they share its partitions: a sorted set of runner ids
// scored by the time (Redis's clock, in ms) their heartbeat expires.
func (k Keys) Members() string { return k.tag + ":members" }

// heartbeatScript records runner ARGV[1] as alive for ARGV[2] ms more,
// drops the runners whose heartbeat expired, and returns how many are alive.
// It reads Redis's clock, so that the runners' clocks need not agree.
var heartbeatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])`)

// membership is how a runner shares the partitions of its partitioned
// projections with the other runners: each runner heartbeats into the
// projection's members set (expiring within the lease TTL), and holds at
// most its fair share, ceil(partitions / live runners), of the partition
// leases. A runner holding more than its share (another joined) releases
// the extras; a runner that died stops heartbeating, the others' share
// grows, and they take its partitions once its leases expire.
type membership struct {
	mu sync.Mutex
	// live is the number of live runners of each projection, as of the
	// last heartbeat (at least 1: this one).
	live map[string]*atomic.Int64
	// held are the partitions of each projection this runner holds.
	held map[string]map[int]bool
}

func newMembership() *membership {
	return &membership{live: map[string]*atomic.Int64{}, held: map[string]map[int]bool{}}
}

// share is a runner's fair share of the n partitions of projection name.
func (m *membership) share(name string, n int) int {
	live := int64(1)
	if l := m.live[name]; l != nil {
		live = max(l.Load(), 1)
	}
	return int((int64(n) + live - 1) / live)
}

// claim reports whether the runner may hold partition p: always for a
// projection of one partition (one lease, as before partitions existed), for
// a partition it holds already, or when it holds fewer than its share.
func (m *membership) claim(p part) bool {
	if p.of <= 1 {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	held := m.held[p.Name]
	if held[p.index] {
		return true
	}
	if len(held) >= m.share(p.Name, p.of) {
		return false
	}
	held[p.index] = true
	return true
}

// drop forgets that the runner holds partition p.
func (m *membership) drop(p part) {
	if p.of <= 1 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.held[p.Name], p.index)
}

// excess reports whether the runner holds more partitions of p's projection
// than its share; it then forgets p, which the caller releases.
func (m *membership) excess(p part) bool {
	if p.of <= 1 {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	held := m.held[p.Name]
	if len(held) <= m.share(p.Name, p.of) || !held[p.index] {
		return false
	}
	delete(held, p.index)
	return true
}

// Held returns, for each partitioned projection, how many of its partitions
// this runner holds now (tests and operators see the split).
func (r *Runner) Held() map[string]int {
	r.members.mu.Lock()
	defer r.members.mu.Unlock()
	out := make(map[string]int, len(r.members.held))
	for name, held := range r.members.held {
		out[name] = len(held)
	}
	return out
}

// add makes p one of the projections whose partitions the runner shares.
func (m *membership) add(p Projection) {
	if p.Partitions > 1 {
		m.live[p.Name] = &atomic.Int64{}
		m.held[p.Name] = map[int]bool{}
	}
}

// join makes the first heartbeat of the runner's partitioned projections,
// so that the first shares count this runner.
func (r *Runner) join(ctx context.Context) { r.heartbeat(ctx) }

// heartbeat renews the runner's membership of each partitioned projection
// and reads how many runners are alive.
func (r *Runner) heartbeat(ctx context.Context) {
	for name, live := range r.members.live {
		n, err := heartbeatScript.Run(ctx, r.rdb, []string{KeysOf(name).Members()}, r.id, r.opts.LeaseTTL.Milliseconds()).Int64()
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("projection membership not renewed", "projection", name, "error", err)
			}
			continue
		}
		live.Store(n)
	}
}

// heartbeats renews the runner's memberships until ctx is done, then
// leaves, so that the others take its partitions at once.
func (r *Runner) heartbeats(ctx context.Context) {
	if len(r.members.live) == 0 {
		return
	}
	for {
		sleep(ctx, r.opts.LeaseTTL/renewsPerLease)
		if ctx.Err() != nil {
			break
		}
		r.heartbeat(ctx)
	}
	lctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	for name := range r.members.live {
		r.rdb.ZRem(lctx, KeysOf(name).Members(), r.id)
	}
}

// rebalancePause is how long a runner that released a partition to a
// runner that joined leaves it alone, so that the other takes it.
func (r *Runner) rebalancePause() time.Duration { return r.opts.LeaseTTL }
