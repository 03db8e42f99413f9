package bustest

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
)

// ClusterName is the cluster name of StartCluster's servers.
const ClusterName = "breachd-test"

// Cluster is a JetStream cluster of embedded nats-servers in the test process: each listens
// for clients and routes on its own loopback ports and keeps its store in its own directory,
// so a node can be shut down and restarted on its store (same name, same ports).
type Cluster struct {
	tb    testing.TB
	nodes []*clusterNode
}

type clusterNode struct {
	opts *server.Options
	srv  *server.Server // nil while shut down
}

// StartCluster starts n servers (n >= 1) with JetStream, routed to each other on 127.0.0.1,
// waits until every one is ready and the cluster can place streams on all of them (WaitReady),
// and shuts them all down by tb.Cleanup. Clients may log in without credentials.
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	ports := freePorts(tb, 2*n)
	routes := make([]string, n)
	for i := range n {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i])
	}
	c := &Cluster{tb: tb}
	for i := range n {
		c.nodes = append(c.nodes, &clusterNode{opts: &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       ports[i],
			JetStream:  true,
			StoreDir:   tb.TempDir(),
			NoSigs:     true,
			NoLog:      true,
			MaxPayload: 8 << 20,
			Cluster:    server.ClusterOpts{Name: ClusterName, Host: "127.0.0.1", Port: ports[n+i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		}})
	}
	tb.Cleanup(func() {
		for i := range c.nodes {
			c.Shutdown(i)
		}
	})
	for i := range c.nodes {
		c.start(i)
	}
	c.WaitReady()
	return c
}

// freePorts returns k distinct free loopback ports (free when asked: another process may take
// one before the server binds it, which then fails to start and fails tb).
func freePorts(tb testing.TB, k int) []int {
	tb.Helper()
	ls := make([]net.Listener, k)
	ports := make([]int, k)
	for i := range ls {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("free port: %v", err)
		}
		ls[i], ports[i] = l, l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

func (c *Cluster) start(i int) {
	c.tb.Helper()
	nd := c.nodes[i]
	srv, err := server.NewServer(nd.opts.Clone())
	if err != nil {
		c.tb.Fatalf("cluster node %d: %v", i, err)
	}
	go srv.Start() // owned by the server; Shutdown stops and waits for it
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		c.tb.Fatalf("cluster node %d (%s) not ready after 10s", i, nd.opts.ServerName)
	}
	nd.srv = srv
}

// URLs are the client URLs of every node, running or not.
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		out[i] = fmt.Sprintf("nats://127.0.0.1:%d", nd.opts.Port)
	}
	return out
}

// URL is URLs joined by commas, as --nats takes them.
func (c *Cluster) URL() string { return strings.Join(c.URLs(), ",") }

// StoreDir is node i's JetStream store directory.
func (c *Cluster) StoreDir(i int) string { return c.nodes[i].opts.StoreDir }

// Server is node i's server (nil while it is shut down).
func (c *Cluster) Server(i int) *server.Server { return c.nodes[i].srv }

// Shutdown stops node i and waits until it has stopped; its store stays. A node already down
// is left as it is.
func (c *Cluster) Shutdown(i int) {
	if nd := c.nodes[i]; nd.srv != nil {
		nd.srv.Shutdown()
		nd.srv.WaitForShutdown()
		nd.srv = nil
	}
}

// Restart starts node i again on its store, name and ports, and waits until the cluster is
// ready (WaitReady).
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	if c.nodes[i].srv != nil {
		c.tb.Fatalf("cluster node %d is running", i)
	}
	c.start(i)
	c.WaitReady()
}

// WaitReady waits (at most 30 s) until the cluster has a JetStream meta leader, every running
// node is current with it and the leader counts every running node as online (so a stream of
// as many replicas as running nodes can be placed).
func (c *Cluster) WaitReady() {
	c.tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !c.ready() {
		if time.Now().After(deadline) {
			c.tb.Fatalf("cluster %s: no JetStream meta leader with every running node current after 30s", ClusterName)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *Cluster) ready() bool {
	running, online := 0, 0
	for _, nd := range c.nodes {
		if nd.srv == nil {
			continue
		}
		if !nd.srv.JetStreamIsCurrent() {
			return false
		}
		running++
		if nd.srv.JetStreamIsLeader() {
			online = len(nd.srv.JetStreamClusterPeers()) // those the leader can place streams on
		}
	}
	return running > 0 && online == running
}

// StreamLeader returns the index of the node leading stream of the global account, waiting
// (at most 30 s) until one does.
func (c *Cluster) StreamLeader(stream string) int {
	c.tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for i, nd := range c.nodes {
			if nd.srv != nil && nd.srv.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
				return i
			}
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("stream %s: no leader after 30s", stream)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Connect opens a connection to the cluster (every node's URL, reconnecting forever, as
// bus.Connect) and a JetStream context over it with the given async publish window
// (bus.NewJetStream) and log (nil: discarded). tb.Cleanup closes it.
func (c *Cluster) Connect(tb testing.TB, window int, log *slog.Logger) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nc, _, err := bus.Connect(c.URL(), tb.Name(), log)
	if err != nil {
		tb.Fatalf("connect to cluster: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := bus.NewJetStream(nc, window, log)
	if err != nil {
		tb.Fatalf("jetstream: %v", err)
	}
	return nc, js
}
