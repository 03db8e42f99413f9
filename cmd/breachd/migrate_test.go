package main

import (
	"strings"
	"testing"
)

// TestMigrateClusterFlags: --print writes the cluster's script in the database of
// --clickhouse without reaching any server; applying needs a server, and --print a cluster;
// an invalid cluster name is a usage error either way, before any server is reached.
func TestMigrateClusterFlags(t *testing.T) {
	t.Setenv("BREACHD_CLICKHOUSE_DSN", "") // the subprocesses' --clickhouse is the one given here
	out, errs, code := breachd(t, nil, "migrate", "--cluster", "{cluster}", "--print", "--retention-days", "90",
		"--clickhouse", "clickhouse://migrator:secret@127.0.0.1:1/bd")
	for _, want := range []string{
		"CREATE DATABASE IF NOT EXISTS bd ON CLUSTER '{cluster}';",
		"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/bd/auth_events', '{replica}')",
		"TTL toDateTime(time) + INTERVAL 90 DAY;",
		"ENGINE = Distributed('{cluster}', bd, auth_events_local, cityHash64(user));",
		"INSERT INTO bd.schema_migrations (version, name, applied)",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("migrate --cluster --print: exit %d, stderr %q; want %q in\n%s", code, errs, want, out)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"migrate", "--cluster", "c1", "--data", t.TempDir()}, "--cluster needs --clickhouse"},
		{[]string{"migrate", "--print"}, "give --cluster NAME"},
		{[]string{"migrate", "--cluster", "c1", "--print", "--retention", "audit=10"}, "--print applies nothing"},
		{[]string{"migrate", "--cluster", "c'1", "--print"}, "cluster name"},
		{[]string{"migrate", "--cluster", "c'1", "--clickhouse", "clickhouse://migrator:secret@127.0.0.1:1/bd"}, "cluster name"},
		{[]string{"migrate", "--cluster", "c'1", "--data", t.TempDir()}, "cluster name"},
	} {
		out, errs, code := breachd(t, nil, c.args...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("breachd %v: exit %d, %q %q; want exit 2 saying %q", c.args, code, out, errs, c.want)
		}
	}
}
