package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/jetsource/jetsource/testkit"
)

const (
	// clusterName is the name the nodes of a test cluster share.
	clusterName = "jetsource-e2e"
	// clientReconnectWait is the test clients' pause between reconnects.
	clientReconnectWait = 50 * time.Millisecond
	// upTimeout bounds the start of the cluster and of the first writer.
	upTimeout = 60 * time.Second
)

// natsCluster is a cluster of nats-server processes on loopback, built
// from the module, each with JetStream, its own store and fsync on every
// write, as an operator would run three servers.
type natsCluster struct {
	t     *testing.T
	bin   string
	nodes []*natsNode
}

// natsNode is one server of the cluster: its name (server_name), client
// address, config file, and the process of its current run.
type natsNode struct {
	name        string
	clientAddr  string
	monitorAddr string // the HTTP monitoring endpoint (connz …)
	conf        string

	mu   sync.Mutex
	p    *proc
	runs int
}

// startCluster writes a config file per node in t.TempDir(), starts size
// nodes and waits until JetStream answers through every one of them.
func startCluster(t *testing.T, bin string, size int) *natsCluster {
	t.Helper()
	c := &natsCluster{t: t, bin: bin}
	routes := make([]string, size)
	clusterAddrs := make([]string, size)
	for i := range size {
		clusterAddrs[i] = freeAddr(t)
		routes[i] = fmt.Sprintf("%q", "nats://"+clusterAddrs[i])
	}
	for i := range size {
		n := &natsNode{name: fmt.Sprintf("n%d", i+1), clientAddr: freeAddr(t), monitorAddr: freeAddr(t)}
		dir := t.TempDir()
		n.conf = filepath.Join(dir, n.name+".conf")
		conf := fmt.Sprintf(`server_name: %s
listen: %q
http: %q
jetstream {
  store_dir: %q
  sync_interval: always
}
cluster {
  name: %s
  listen: %q
  routes: [%s]
}
`, n.name, n.clientAddr, n.monitorAddr, filepath.Join(dir, "store"), clusterName, clusterAddrs[i], strings.Join(routes, ", "))
		require.NoError(t, os.WriteFile(n.conf, []byte(conf), 0o600))
		c.nodes = append(c.nodes, n)
	}
	for _, n := range c.nodes {
		require.NoError(t, c.run(n))
	}
	for _, n := range c.nodes {
		testkit.Eventually(t, upTimeout, func() bool {
			nc, js, err := connectJS("nats://"+n.clientAddr, "cluster probe")
			if err != nil {
				return false
			}
			defer nc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
			defer cancel()
			_, err = js.AccountInfo(ctx)
			return err == nil
		}, "JetStream of cluster node %s ready (a meta leader elected)", n.name)
	}
	return c
}

func (c *natsCluster) run(n *natsNode) error {
	n.mu.Lock()
	n.runs++
	name := fmt.Sprintf("nats-server %s (run %d)", n.name, n.runs)
	n.mu.Unlock()
	p, err := launch(c.t, name, filepath.Join(c.bin, "nats-server"), nil, "-c", n.conf)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.p = p
	n.mu.Unlock()
	return nil
}

func (n *natsNode) current() *proc {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.p
}

// urls is the comma-separated client URLs of every node, as NATS_URL takes
// them.
func (c *natsCluster) urls() string {
	var urls []string
	for _, n := range c.nodes {
		urls = append(urls, "nats://"+n.clientAddr)
	}
	return strings.Join(urls, ",")
}

func (c *natsCluster) node(name string) (*natsNode, error) {
	for _, n := range c.nodes {
		if n.name == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("no cluster node named %q", name)
}

// kill SIGKILLs node name and waits until it has exited.
func (c *natsCluster) kill(name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	return n.current().sigkill()
}

// restart starts node name again, on its address, store and config.
func (c *natsCluster) restart(name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	return c.run(n)
}

// signal sends sig (SIGSTOP, SIGCONT) to node name.
func (c *natsCluster) signal(name string, sig syscall.Signal) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	p := n.current()
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%v %s: %w", sig, p.name, err)
	}
	return nil
}

// clientsOf returns the names of the clients connected to each running node
// (its connz), by node name.
func (c *natsCluster) clientsOf(ctx context.Context) (map[string][]string, error) {
	clients := map[string][]string{}
	for _, n := range c.nodes {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.monitorAddr+"/connz?limit=1024", nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue // down or stopped
		}
		var connz struct {
			Connections []struct {
				Name string `json:"name"`
			} `json:"connections"`
		}
		err = json.NewDecoder(resp.Body).Decode(&connz)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("connz of %s: %w", n.name, err)
		}
		for _, conn := range connz.Connections {
			clients[n.name] = append(clients[n.name], conn.Name)
		}
	}
	return clients, nil
}

// diedOnTheirOwn lists the nodes whose current process exited although the
// test did not kill it.
func (c *natsCluster) diedOnTheirOwn() []string {
	var dead []string
	for _, n := range c.nodes {
		if why, ok := n.current().exited(); ok {
			dead = append(dead, why)
		}
	}
	return dead
}

// streamLeader is the server that leads stream.
func streamLeader(ctx context.Context, js jetstream.JetStream, stream string) (string, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return "", fmt.Errorf("stream %s: %w", stream, err)
	}
	info := s.CachedInfo()
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return "", fmt.Errorf("stream %s has no leader", stream)
	}
	return info.Cluster.Leader, nil
}

// consumerFiltering returns the consumer of stream whose filter is subject.
func consumerFiltering(ctx context.Context, js jetstream.JetStream, stream, subject string) (*jetstream.ConsumerInfo, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	lister := s.ListConsumers(ctx)
	for info := range lister.Info() {
		if info.Config.FilterSubject == subject || slices.Contains(info.Config.FilterSubjects, subject) {
			return info, nil
		}
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("consumers of %s: %w", stream, err)
	}
	return nil, fmt.Errorf("stream %s has no consumer filtering %s", stream, subject)
}

// errUnhealthy means a stream or consumer lacks a leader or has a replica
// that is offline or behind.
var errUnhealthy = errors.New("not healthy")

// healthy checks that each stream, and the consumer filtering subject,
// has a leader and every replica current and online.
func healthy(ctx context.Context, js jetstream.JetStream, subject string, streams ...string) error {
	check := func(what string, cl *jetstream.ClusterInfo) error {
		if cl == nil || cl.Leader == "" {
			return fmt.Errorf("%s: %w: no leader", what, errUnhealthy)
		}
		for _, r := range cl.Replicas {
			if !r.Current || r.Offline {
				return fmt.Errorf("%s: %w: replica %s current=%v offline=%v lag=%d", what, errUnhealthy, r.Name, r.Current, r.Offline, r.Lag)
			}
		}
		return nil
	}
	for _, name := range streams {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
		if err := check("stream "+name, s.CachedInfo().Cluster); err != nil {
			return err
		}
	}
	info, err := consumerFiltering(ctx, js, streams[0], subject)
	if err != nil {
		return err
	}
	return check("consumer "+info.Name, info.Cluster)
}

// connectJS connects a client to urls (comma-separated) that reconnects
// without end, as the services do.
func connectJS(urls, name string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(urls, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(clientReconnectWait))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", urls, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}
