package history

import "context"

// Statements is clusterStatements, for the tests of statements schema.go does not have.
func (c Cluster) Statements(stmt string) ([]string, error) { return c.clusterStatements(stmt) }

// RetentionStatement is the statement MaintainCluster runs to set table t's retention to d days.
func (c Cluster) RetentionStatement(t string, d int) string {
	return c.layout().retentionStatement(t, d)
}

// ClusterRetentionNow is the retention MaintainCluster shows: the TTLs of c's local tables.
func (s *Store) ClusterRetentionNow(ctx context.Context, c Cluster) (Retention, error) {
	return s.retentionNow(ctx, c.layout())
}

// MigrationVersions lists the versions of the single-node migrations.
func MigrationVersions() []int {
	var vs []int
	for _, m := range migrations(DefaultEventRetentionDays) {
		vs = append(vs, m.version)
	}
	return vs
}
