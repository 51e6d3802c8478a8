package testkit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// clusterReadyTimeout bounds how long a new cluster may take to elect its
// JetStream meta leader.
const clusterReadyTimeout = 30 * time.Second

// Cluster is an in-process nats-server cluster with JetStream: size nodes
// on random loopback ports, each with its own store, routed to each other.
type Cluster struct {
	t     testing.TB
	Nodes []*NATS
}

// StartCluster starts a cluster of size nodes and waits until JetStream
// answers (a meta leader is elected). t.Cleanup shuts it down.
func StartCluster(t testing.TB, size int) *Cluster {
	t.Helper()
	ports := make([]int, size)
	routes := make([]string, size)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			t.Fatalf("testkit: %v", err)
		}
		ports[i] = p
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", p)
	}
	c := &Cluster{t: t}
	for i := range size {
		c.Nodes = append(c.Nodes, StartNATS(t, func(o *server.Options) {
			o.ServerName = fmt.Sprintf("n%d", i+1)
			o.Cluster = server.ClusterOpts{Name: "jetsource-test", Host: "127.0.0.1", Port: ports[i]}
			o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}))
	}
	nc := c.Connect()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	Eventually(t, clusterReadyTimeout, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil
	}, "testkit: cluster JetStream not ready")
	return c
}

// URL lists every node's client URL, comma-separated, as clients take it.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = n.URL()
	}
	return strings.Join(urls, ",")
}

// Connect returns a client connection to the cluster that t.Cleanup closes.
func (c *Cluster) Connect(opts ...nats.Option) *nats.Conn {
	c.t.Helper()
	return connect(c.t, c.URL(), opts)
}

// Node returns the node named name (n1, n2 …), or nil.
func (c *Cluster) Node(name string) *NATS {
	for _, n := range c.Nodes {
		if n.opts.ServerName == name {
			return n
		}
	}
	return nil
}
