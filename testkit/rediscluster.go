package testkit

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// clusterMasters is the size of the clusters StartRedisCluster starts.
	clusterMasters = 3
	// clusterNodeTimeout is the nodes' cluster-node-timeout: short, so that
	// a killed master is noticed (and a restarted one taken back) quickly.
	clusterNodeTimeout = 2 * time.Second
	// clusterReadyWait bounds how long a new or healed Redis Cluster may
	// take to report cluster_state:ok on every node.
	clusterReadyWait = 30 * time.Second
)

// RedisCluster is a private Redis Cluster (or Valkey cluster): masters
// without replicas on random loopback ports, each a private server with its
// own directory and no persistence, the slots spread over them by the
// cluster tool (redis-cli --cluster create). t.Cleanup stops it.
type RedisCluster struct {
	t testing.TB
	// Masters are the nodes; Kill and Restart on one play a crashed master
	// that comes back empty (its cluster config, nodes.conf, survives, so
	// it rejoins with its slots).
	Masters []*Redis
	// CrossSlot records the CROSSSLOT errors of every client made by
	// Client (and of any client Watch was given).
	CrossSlot *CrossSlot
}

// StartRedisCluster starts a Redis Cluster of three masters with the
// redis-server and redis-cli on PATH and waits until every node reports
// cluster_state:ok. Without them it fails the test with install
// instructions.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	return startRedisCluster(t, "redis-server", "redis-cli", "apt-get install redis-server")
}

// StartValkeyCluster starts the same cluster with valkey-server and
// valkey-cli; without them on PATH it skips the test, saying so (Debian
// bookworm has no valkey package; trixie does).
func StartValkeyCluster(t testing.TB) *RedisCluster {
	t.Helper()
	for _, bin := range []string{"valkey-server", "valkey-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("testkit: %s is not on PATH: the Valkey cluster is not tested here (apt-get install valkey-server where the distribution has it)", bin)
		}
	}
	return startRedisCluster(t, "valkey-server", "valkey-cli", "")
}

func startRedisCluster(t testing.TB, server, cli, install string) *RedisCluster {
	t.Helper()
	serverBin, err := exec.LookPath(server)
	if err != nil {
		t.Fatalf("testkit: %s is not on PATH: install it (%s)", server, install)
	}
	cliBin, err := exec.LookPath(cli)
	if err != nil {
		t.Fatalf("testkit: %s is not on PATH: install it (%s)", cli, install)
	}
	c := &RedisCluster{t: t, CrossSlot: &CrossSlot{}}
	for range clusterMasters {
		c.Masters = append(c.Masters, startClusterNode(t, serverBin))
	}
	args := []string{"--cluster", "create"}
	for _, m := range c.Masters {
		args = append(args, m.Addr)
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cliBin, args...).CombinedOutput(); err != nil {
		t.Fatalf("testkit: %s %s: %v\n%s", cli, strings.Join(args, " "), err, out)
	}
	if err := c.WaitOK(); err != nil {
		t.Fatalf("testkit: %v", err)
	}
	return c
}

// startClusterNode starts one cluster-enabled server on a free port, with
// its cluster bus on another free port (not port+10000, which may be taken
// or out of range).
func startClusterNode(t testing.TB, bin string) *Redis {
	t.Helper()
	return startPrivate(t, bin, "", func(bus int) []string {
		return []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(bus),
			"--cluster-node-timeout", strconv.FormatInt(clusterNodeTimeout.Milliseconds(), 10),
		}
	})
}

// WaitOK waits until every master reports cluster_state:ok with every slot
// served, as after a restarted master rejoined.
func (c *RedisCluster) WaitOK() error {
	deadline := time.Now().Add(clusterReadyWait)
	for {
		var notOK error
		for _, m := range c.Masters {
			if err := clusterOK(m.Addr); err != nil {
				notOK = err
				break
			}
		}
		if notOK == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis cluster not ok within %v: %w", clusterReadyWait, notOK)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clusterOK is nil when the node at addr reports the cluster ok.
func clusterOK(addr string) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	info, err := rdb.ClusterInfo(ctx).Result()
	if err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
		return fmt.Errorf("%s: cluster not ok: %s", addr, strings.Join(strings.Fields(info)[:3], " "))
	}
	return nil
}

// Addrs are the masters' addresses, host:port.
func (c *RedisCluster) Addrs() []string {
	out := make([]string, len(c.Masters))
	for i, m := range c.Masters {
		out[i] = m.Addr
	}
	return out
}

// URL lists every master's URL, comma-separated, as the redis.url setting
// of a cluster deployment takes them.
func (c *RedisCluster) URL() string {
	urls := make([]string, len(c.Masters))
	for i, m := range c.Masters {
		urls[i] = m.URL
	}
	return strings.Join(urls, ",")
}

// Client returns a cluster client of the cluster, whose CROSSSLOT errors
// c.CrossSlot records; t.Cleanup closes it.
func (c *RedisCluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	c.CrossSlot.Watch(rdb)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// MasterOf returns the index in Masters of the master that serves key's
// slot.
func (c *RedisCluster) MasterOf(key string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: c.Masters[0].Addr})
	defer rdb.Close()
	slot, err := rdb.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return 0, err
	}
	slots, err := rdb.ClusterSlots(ctx).Result()
	if err != nil {
		return 0, err
	}
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
			for i, m := range c.Masters {
				if m.Addr == s.Nodes[0].Addr {
					return i, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("testkit: no master serves slot %d of %q", slot, key)
}

// FlushMaster deletes every key of master i (FLUSHALL), as a master that
// lost its data would.
func (c *RedisCluster) FlushMaster(i int) error {
	rdb := redis.NewClient(&redis.Options{Addr: c.Masters[i].Addr})
	defer rdb.Close()
	return rdb.FlushAll(context.Background()).Err()
}

// CrossSlot records every CROSSSLOT error (keys of one command, script or
// MULTI/EXEC in different slots) that the clients it watches meet, so that
// a test fails on one even when the code under test retries or logs it away.
type CrossSlot struct {
	mu   sync.Mutex
	seen []string
}

// Watch records the CROSSSLOT errors of rdb; of a cluster client, those of
// its node clients too (a WATCH/MULTI/EXEC runs on a node's client).
func (c *CrossSlot) Watch(rdb redis.UniversalClient) {
	rdb.AddHook(crossSlotHook{c})
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		cc.OnNewNode(func(node *redis.Client) { node.AddHook(crossSlotHook{c}) })
		// Nodes the client already knows (it answered a PING) are hooked
		// now; the OnNewNode above hooks those it meets later.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = cc.ForEachShard(ctx, func(_ context.Context, node *redis.Client) error {
			node.AddHook(crossSlotHook{c})
			return nil
		})
	}
}

// Errors returns what was recorded: each command with its CROSSSLOT error.
func (c *CrossSlot) Errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

func (c *CrossSlot) record(cmd redis.Cmder, err error) {
	if err == nil || !IsCrossSlot(err) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, fmt.Sprintf("%s: %v", cmd.Name(), err))
}

// IsCrossSlot reports an error of keys in different slots: the server's
// CROSSSLOT, a script's access to a key of another node's slot (a key not
// declared in KEYS), or go-redis refusing a WATCH over several slots.
func IsCrossSlot(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "CROSSSLOT") || strings.Contains(msg, "same slot") || strings.Contains(msg, "non local key")
}

type crossSlotHook struct{ c *CrossSlot }

func (h crossSlotHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h crossSlotHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.c.record(cmd, err)
		return err
	}
}

func (h crossSlotHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			h.c.record(cmd, cmd.Err())
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			h.c.record(redis.NewStatusCmd(ctx, "pipeline"), err)
		}
		return err
	}
}
