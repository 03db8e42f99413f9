package main

import (
	"context"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"breachd/deploy"
	"breachd/history"
)

func migrateCommand() *cobra.Command {
	r := history.MigrateRequest{Retention: history.Retention{}}
	c := &cobra.Command{
		Use:   "migrate [flags]",
		Short: "apply the history schema migrations (also done on every start)",
		Args:  noArgs,
		Long: `Applies the versioned schema migrations of the history that are not yet recorded in its
schema_migrations table, in order, and says how many it applied. Every statement is idempotent,
so running it twice, or from several processes at once, is safe. 'breachd run' and 'breachd
detect' migrate on start as well; run this before a rolling upgrade, or against a ClickHouse
server with --clickhouse.

Retention: login and access events are kept for 400 days by default (--retention-days, used
when a table is created); directory changes, alerts, incidents (the breach register) and the
audit log are kept forever. --retention changes one table's TTL on an existing history.
ClickHouse removes expired rows in the background.

A ClickHouse cluster (--cluster NAME, the cluster of the servers' remote_servers): the same
migrations in their cluster form, derived from the single-node ones — every table as a
Replicated table <t>_local on every node (ON CLUSTER) and a Distributed table <t> over them,
sharded so the copies of a row share a shard; later migrations' ALTERs on the local tables (and
column changes on the Distributed ones too). With --print the script is written to stdout for
review (or for clickhouse-client --multiquery on a new cluster: it runs every migration, recorded
or not) and nothing is applied; without it, it is applied through the server of --clickhouse,
skipping migrations already recorded in schema_migrations, and --retention changes the local
tables' TTLs ON CLUSTER. The embedded engine has no cluster.
A single-node history is not converted (see deploy/README.md).`,
		Example: `  breachd migrate --retention auth_events=180 --retention access_events=180 --retention audit=1825
  breachd migrate --show-retention
  breachd migrate --cluster breachd --clickhouse clickhouse://migrator:…@ch1:9000/breachd --print > cluster.sql
  breachd migrate --cluster breachd --clickhouse clickhouse://migrator:…@ch1:9000/breachd`,
	}
	var cluster string
	var script bool
	fs := c.Flags()
	historyFlags(fs)
	fs.IntVar(&r.RetentionDays, "retention-days", history.DefaultEventRetentionDays, "TTL of event rows, in days (used when a migration creates an event table)")
	fs.Var(r.Retention, "retention", "set one table's TTL as `table=days` (0 = keep forever); repeatable; tables: "+strings.Join(history.RetentionTables(), ", "))
	fs.BoolVar(&r.Show, "show-retention", false, "print each table's retention after migrating")
	fs.StringVar(&cluster, "cluster", "", "the ClickHouse cluster (its name in remote_servers, or a macro such as {cluster}) whose Replicated and Distributed tables to migrate")
	fs.BoolVar(&script, "print", false, "with --cluster: write the cluster's schema as a SQL script to stdout and apply nothing (the database is that of --clickhouse, else default)")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if r.RetentionDays <= 0 {
			return usagef("--retention-days must be positive")
		}
		if cluster != "" || script {
			return migrateCluster(c.Context(), cluster, script, r)
		}
		return printFrom(c.Context(), deploy.AttachConfig{History: true, Owner: true}, func(ctx context.Context, a *deploy.Attached) (any, error) {
			m, err := a.History.Maintain(ctx, r)
			if m == nil {
				return nil, err
			}
			return m, err
		})
	}
	return c
}

// migrateCluster runs `breachd migrate --cluster`: prints the cluster's schema, or applies it
// and r to the cluster through the server of --clickhouse.
func migrateCluster(ctx context.Context, cluster string, script bool, r history.MigrateRequest) error {
	if cluster == "" {
		return usagef("--print writes a cluster's schema: give --cluster NAME")
	}
	c, err := history.ClusterOf(infra.ClickHouseDSN, cluster)
	switch {
	case err != nil:
		return usagef("%v", err)
	case script && (len(r.Retention) > 0 || r.Show):
		return usagef("--print applies nothing: leave out --retention and --show-retention, or --print")
	case script:
		return c.WriteScript(os.Stdout, r.RetentionDays)
	case infra.ClickHouseDSN == "":
		return usagef("--cluster needs --clickhouse, a server of the cluster: the embedded engine has no cluster " +
			"(ON CLUSTER and Replicated tables need ClickHouse Keeper); --print writes the script without one")
	}
	s, err := history.OpenCluster(ctx, infra.ClickHouseDSN, c, quiet())
	if err != nil {
		return err
	}
	defer s.Close()
	m, err := s.MaintainCluster(ctx, c, r)
	if m == nil {
		return err
	}
	return printResult(m, err)
}
