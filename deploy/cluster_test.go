package deploy

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/event"
)

// TestPipelineOnR3Cluster runs the pipeline of one process against a three-node NATS cluster
// with --replicas 3: every stream and bucket the stages create has three replicas, the store
// check passes on the cluster, and every event is in history once.
func TestPipelineOnR3Cluster(t *testing.T) {
	dir := t.TempDir()
	path, kinds, _ := writeSimulation(t, dir)
	c := bustest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in, err := StartInfra(ctx, InfraConfig{DataDir: filepath.Join(dir, "data"), NATSURL: c.URL(), Bus: bus.Config{Replicas: 3},
		Logger: watchNATS(t, testLogger(t))})
	if err != nil {
		t.Fatalf("start infra on the cluster: %v", err)
	}
	defer in.Close()
	var console bytes.Buffer
	runToCompletion(t, in, &console, fileSource(t, path))

	streams := append([]string{bus.StreamEvents, bus.StreamAlerts, bus.StreamDLQ, bus.StreamIncidents, "KV_" + bus.BucketIncidents}, otherStreams...)
	found := 0
	for _, name := range streams {
		st, err := in.JS.Stream(ctx, name)
		if err != nil {
			continue // created only by a stage this process does not run (the API's buckets, the notification channels)
		}
		found++
		if r := st.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("stream %s: %d replicas, want 3", name, r)
		}
	}
	t.Logf("%d of breachd's streams and buckets exist, each with 3 replicas", found)
	if found < 6 {
		t.Errorf("only %d of breachd's streams and buckets exist", found)
	}
	tables := map[event.Kind]string{event.KindAuth: "auth_events", event.KindAccess: "access_events", event.KindDirectory: "directory_events"}
	for k, table := range tables {
		if rows := count(t, in, "SELECT count() FROM "+table); rows != uint64(kinds[k]) {
			t.Errorf("%s has %d rows, want %d", table, rows, kinds[k])
		}
	}
}
