package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLockDataDir(t *testing.T) {
	dir := t.TempDir()
	l, err := LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, LockFile)); string(b) != fmt.Sprintf("%d\n", os.Getpid()) {
		t.Errorf("lock file holds %q, want the pid", b)
	}
	_, err = LockDataDir(dir)
	var inUse *DataDirInUseError
	if !errors.As(err, &inUse) || inUse.PID != os.Getpid() ||
		!strings.HasPrefix(err.Error(), fmt.Sprintf("data directory %s is in use by pid %d", dir, os.Getpid())) {
		t.Fatalf("second lock: %v; want data directory %s is in use by pid %d", err, dir, os.Getpid())
	}
	l.Release()
	l.Release() // harmless
	l2, err := LockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Release()
}

// Two instances on one data directory: the second fails at once with the first one's pid,
// before it opens NATS or ClickHouse — also when the ClickHouse engine's own lock file was
// deleted, which used to let both run — and leaves the first one's endpoint file and engines
// alone. Once the first has closed, the directory can be opened again.
func TestSecondInstanceOnOneDataDir(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	first := startTestInfra(t, data) // closed below, to see the directory free again
	endpoint := filepath.Join(data, EndpointFile)
	before, err := os.ReadFile(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := InfraConfig{DataDir: data, Logger: testLogger(t)}
	want := fmt.Sprintf("data directory %s is in use by pid %d", data, os.Getpid())
	for _, c := range []struct {
		name    string
		prepare func(t *testing.T)
		start   func(context.Context, InfraConfig) (*Infra, error)
	}{
		{"run", func(*testing.T) {}, StartInfra},
		{"history command", func(*testing.T) {}, StartHistoryOnly},
		{"run, ClickHouse lock file deleted", func(t *testing.T) {
			if err := os.Remove(filepath.Join(data, "clickhouse", "status")); err != nil {
				t.Fatalf("remove the engine's lock file: %v", err)
			}
		}, StartInfra},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.prepare(t)
			second, err := c.start(ctx, cfg)
			if err == nil {
				second.Close()
				t.Fatal("a second instance started on a data directory in use")
			}
			var inUse *DataDirInUseError
			if !errors.As(err, &inUse) || !strings.Contains(err.Error(), want) {
				t.Fatalf("second instance: %v; want %q", err, want)
			}
			if after, err := os.ReadFile(endpoint); err != nil || !bytes.Equal(after, before) {
				t.Fatalf("the first instance's endpoint file after the second failed: %q, %v", after, err)
			}
			// The first instance still has its engines.
			if _, err := first.History.Count(ctx); err != nil {
				t.Fatalf("first instance's history: %v", err)
			}
			if _, err := first.JS.AccountInfo(ctx); err != nil {
				t.Fatalf("first instance's JetStream: %v", err)
			}
		})
	}
	first.Close()
	if _, err := os.Stat(endpoint); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("endpoint file after the first instance closed: %v", err)
	}
	again := startTestInfra(t, data)
	again.Close()
}
