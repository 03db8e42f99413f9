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

// PendingVersions are the versions of ms MaintainCluster runs when done are recorded.
func PendingVersions(ms []ClusterMigration, done map[int]bool) []int {
	var vs []int
	for _, cm := range pendingMigrations(ms, done) {
		vs = append(vs, cm.Version)
	}
	return vs
}

// ClusterRefusal is Migrate's answer for a schema_migrations that is Distributed or not, whose
// read gave readErr.
func ClusterRefusal(distributed bool, readErr error) error {
	return clusterRefusal(distributed, readErr)
}
