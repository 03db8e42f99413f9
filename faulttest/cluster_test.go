package faulttest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
)

// replicas of every stream and bucket on the test's cluster.
const replicas = 3

// cluster is a three-node NATS cluster, each node a process of its own (the test binary
// re-executed: runNode), with routes and clients on loopback.
type cluster struct {
	t      *testing.T
	logDir string
	nodes  []*clusterNode
	NC     *nats.Conn // the test's own connection, to all nodes
	JS     jetstream.JetStream
}

type clusterNode struct {
	cfg  nodeConfig
	proc *proc
}

// startCluster starts three nodes with stores under dir and waits until JetStream has a meta
// leader and breachd's streams and buckets exist with three replicas (bus.Ensure).
func startCluster(ctx context.Context, t *testing.T, dir, logDir string) *cluster {
	t.Helper()
	c := &cluster{t: t, logDir: logDir}
	ports := freePorts(t, 6)
	for i := range 3 {
		cfg := nodeConfig{Name: fmt.Sprintf("n%d", i), Port: ports[i], ClusterPort: ports[3+i],
			StoreDir: filepath.Join(dir, fmt.Sprintf("n%d", i))}
		for j := range 3 {
			if j != i {
				cfg.Peers = append(cfg.Peers, ports[3+j])
			}
		}
		c.nodes = append(c.nodes, &clusterNode{cfg: cfg})
	}
	for i := range c.nodes {
		c.start(i)
	}
	if err := retryUntil(ctx, 30*time.Second, func(context.Context) (err error) {
		c.NC, c.JS, err = bus.Connect(c.URLs(), "faulttest", slog.New(slog.NewTextHandler(io.Discard, nil)))
		return err
	}); err != nil {
		t.Fatalf("the nodes do not accept connections: %v", err)
	}
	t.Cleanup(c.NC.Close)
	// The streams are created before any breachd process starts, with every process's
	// --replicas 3: whichever comes first, nothing is created with one replica.
	if err := retryUntil(ctx, time.Minute, func(ctx context.Context) error {
		return bus.Ensure(ctx, c.JS, bus.Config{Replicas: replicas})
	}); err != nil {
		t.Fatalf("JetStream on the three-node cluster: %v", err)
	}
	return c
}

// URLs are the client URLs of all nodes, comma-separated, as --nats takes them.
func (c *cluster) URLs() string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", n.cfg.Port)
	}
	return strings.Join(urls, ",")
}

// start starts node i on its store (again, after stop).
func (c *cluster) start(i int) {
	n := c.nodes[i]
	cfg, err := json.Marshal(n.cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), nodeEnv+"="+string(cfg))
	n.proc = startProc(c.t, c.logDir, "nats-"+n.cfg.Name, cmd)
}

// stop stops node i with sig (SIGKILL: a crash; SIGTERM: a clean shutdown) and waits until it
// has exited.
func (c *cluster) stop(ctx context.Context, i int, sig syscall.Signal) error {
	n := c.nodes[i]
	n.proc.signal(sig)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return n.proc.wait(ctx)
}

// node is the index of the node named name.
func (c *cluster) node(name string) (int, error) {
	for i, n := range c.nodes {
		if n.cfg.Name == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no node named %q", name)
}

// leader is the index of the node leading stream.
func (c *cluster) leader(ctx context.Context, stream string) (int, error) {
	var name string
	err := retryUntil(ctx, 30*time.Second, func(ctx context.Context) error {
		s, err := c.JS.Stream(ctx, stream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return fmt.Errorf("stream %s has no leader", stream)
		}
		name = info.Cluster.Leader
		return nil
	})
	if err != nil {
		return 0, err
	}
	return c.node(name)
}

// waitCurrent waits until every replica of stream is current and has no lag: a restarted node
// has caught up.
func (c *cluster) waitCurrent(ctx context.Context, stream string) error {
	return retryUntil(ctx, time.Minute, func(ctx context.Context) error {
		s, err := c.JS.Stream(ctx, stream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || len(info.Cluster.Replicas) != replicas-1 {
			return fmt.Errorf("stream %s: cluster info %+v, want a leader and %d replicas", stream, info.Cluster, replicas-1)
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Lag > 0 || r.Offline {
				return fmt.Errorf("stream %s: replica %s current=%v lag=%d offline=%v", stream, r.Name, r.Current, r.Lag, r.Offline)
			}
		}
		return nil
	})
}

// freePorts returns n free loopback ports (free when asked: a node restarted later reuses its
// ports, so they are fixed for the cluster's life).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// retryUntil calls f every 200 ms until it succeeds or limit (or ctx) ends; then it returns
// f's last error.
func retryUntil(ctx context.Context, limit time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, 10*time.Second)
		err := f(actx)
		acancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %s: %w", limit, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
