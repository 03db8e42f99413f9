package faulttest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// nodeEnv carries a NATS node's configuration (JSON) to the test binary re-executed as that
// node: TestMain then runs the node instead of the tests.
const nodeEnv = "BREACHD_TEST_NATS_NODE"

// workDir lives as long as the test process: it holds binary and the engine's data.
var workDir string

// binary is the breachd binary the stages run as, built by TestMain.
var binary string

func TestMain(m *testing.M) {
	if cfg := os.Getenv(nodeEnv); cfg != "" {
		os.Exit(runNode(cfg))
	}
	var err error
	if workDir, err = os.MkdirTemp("", "breachd-faults"); err != nil {
		panic(err)
	}
	binary = filepath.Join(workDir, "breachd")
	// The same tags and cgo setting as cmd/breachd's tests, so the build is shared in the cache.
	build := exec.Command("go", "build", "-tags", "faults", "-o", binary, "../cmd/breachd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(workDir)
	os.Exit(code)
}

// nodeConfig is one node of the test's NATS cluster.
type nodeConfig struct {
	Name        string // server name, as StreamInfo.Cluster.Leader reports it
	Port        int    // client port on 127.0.0.1
	ClusterPort int    // route port on 127.0.0.1
	Peers       []int  // the other nodes' route ports
	StoreDir    string // JetStream store: a restarted node keeps it
}

// runNode runs a nats-server with JetStream as the cluster node cfg describes until SIGTERM
// or SIGINT (a clean shutdown; SIGKILL is the crash), and returns the exit code.
func runNode(cfgJSON string) int {
	var cfg nodeConfig
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", nodeEnv, err)
		return 2
	}
	routes := make([]string, len(cfg.Peers))
	for i, p := range cfg.Peers {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: cfg.Name,
		Host:       "127.0.0.1",
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		MaxPayload: 8 << 20,
		Cluster:    server.ClusterOpts{Name: "faults", Host: "127.0.0.1", Port: cfg.ClusterPort},
		Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		Logtime:    true,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "nats node %s: %v\n", cfg.Name, err)
		return 1
	}
	srv.ConfigureLogger() // to stderr, which the test keeps in a file per node
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		fmt.Fprintf(os.Stderr, "nats node %s: not ready after 30s\n", cfg.Name)
		return 1
	}
	<-sigs
	srv.Shutdown()
	srv.WaitForShutdown()
	return 0
}
