package manifests

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"breachd/history/chdb"
)

// readyQuery returns the query of a ClickHouse health check or probe command that passes only
// once the database db exists: `clickhouse-client -q Q`, logged in from the container's
// CLICKHOUSE_USER and CLICKHOUSE_PASSWORD. /ping would pass while the image's entrypoint is
// still creating the database, and so would a SELECT that returns no row: Q must throw.
// TestClickHouseReadyQueries runs each Q on the embedded engine.
func readyQuery(t *testing.T, where string, cmd []string, db string) string {
	t.Helper()
	if len(cmd) != 3 || cmd[0] != "clickhouse-client" || cmd[1] != "-q" {
		t.Errorf("%s: %v: want [clickhouse-client -q QUERY], a query that fails until the database %s exists", where, cmd, db)
		return ""
	}
	if q := cmd[2]; !strings.Contains(q, "throwIf(") || !strings.Contains(q, "'"+db+"'") {
		t.Errorf("%s: query %q: want it to throw while the database %s does not exist", where, q, db)
	}
	return cmd[2]
}

// composeReadyQuery is the ready query of the Compose service clickhouse and its database.
func composeReadyQuery(t *testing.T) (query, db string) {
	p, err := LoadCompose(context.Background(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := p.Services["clickhouse"]
	if v := s.Environment["CLICKHOUSE_DB"]; v != nil {
		db = *v
	}
	if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 || s.HealthCheck.Test[0] != "CMD" {
		t.Fatalf("compose service clickhouse: health check %v: want CMD clickhouse-client -q QUERY", s.HealthCheck)
	}
	return readyQuery(t, "compose service clickhouse: health check", s.HealthCheck.Test[1:], db), db
}

// TestK8sClickHouse: the StatefulSet's governing Service is headless and selects its pod; the
// startup and readiness probes pass only once the database exists (liveness: /ping).
func TestK8sClickHouse(t *testing.T) {
	o := loadK8s(t)
	if len(o.StatefulSets) != 1 {
		t.Fatalf("%d StatefulSets, want ClickHouse's", len(o.StatefulSets))
	}
	ss := o.StatefulSets[0]
	var governing *corev1.Service
	for i, s := range o.Services {
		if s.Name == ss.Spec.ServiceName {
			governing = &o.Services[i]
		}
	}
	switch {
	case governing == nil:
		t.Errorf("StatefulSet %s: serviceName %q: no such Service", ss.Name, ss.Spec.ServiceName)
	case governing.Spec.ClusterIP != corev1.ClusterIPNone || !subset(governing.Spec.Selector, ss.Spec.Template.Labels):
		t.Errorf("StatefulSet %s: Service %s: want it headless (clusterIP None, is %q) and selecting the pods (%v)",
			ss.Name, governing.Name, governing.Spec.ClusterIP, governing.Spec.Selector)
	}
	for _, c := range ss.Spec.Template.Spec.Containers {
		where := "StatefulSet " + ss.Name + " container " + c.Name
		db := ContainerEnv(c)["CLICKHOUSE_DB"]
		for name, pr := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe} {
			if pr == nil || pr.Exec == nil {
				t.Errorf("%s: %s probe: want clickhouse-client with a query that fails until the database %s exists", where, name, db)
				continue
			}
			readyQuery(t, where+": "+name+" probe", pr.Exec.Command, db)
		}
	}
}

// TestClickHouseReadyQueries runs the ready queries of both manifests on the embedded
// ClickHouse engine: each fails while the database does not exist and passes once it does.
func TestClickHouseReadyQueries(t *testing.T) {
	q, db := composeReadyQuery(t)
	queries := []string{q}
	for _, ss := range loadK8s(t).StatefulSets {
		for _, c := range ss.Spec.Template.Spec.Containers {
			if c.StartupProbe == nil || c.StartupProbe.Exec == nil || ContainerEnv(c)["CLICKHOUSE_DB"] != db {
				t.Fatalf("StatefulSet %s: no startup query for the database %s", ss.Name, db)
			}
			queries = append(queries, readyQuery(t, "StatefulSet "+ss.Name, c.StartupProbe.Exec.Command, db))
			if c.ReadinessProbe != nil && c.ReadinessProbe.Exec != nil {
				queries = append(queries, readyQuery(t, "StatefulSet "+ss.Name, c.ReadinessProbe.Exec.Command, db))
			}
		}
	}
	queries = slices.DeleteFunc(queries, func(q string) bool { return q == "" }) // reported by readyQuery
	slices.Sort(queries)
	queries = slices.Compact(queries)
	if len(queries) == 0 {
		t.Fatal("no ready query to run")
	}

	e, err := chdb.Open(chdb.DefaultLibPath(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	for _, q := range queries {
		if _, err := e.Query(ctx, q, ""); err == nil {
			t.Errorf("%q passes before the database %s exists", q, db)
		}
	}
	if _, err := e.Query(ctx, "CREATE DATABASE "+db, ""); err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		if _, err := e.Query(ctx, q, ""); err != nil {
			t.Errorf("%q fails once the database %s exists: %v", q, db, err)
		}
	}
}
