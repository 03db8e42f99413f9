package main

import (
	"context"
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
ClickHouse removes expired rows in the background.`,
		Example: `  breachd migrate --retention auth_events=180 --retention access_events=180 --retention audit=1825
  breachd migrate --show-retention`,
	}
	fs := c.Flags()
	historyFlags(fs)
	fs.IntVar(&r.RetentionDays, "retention-days", history.DefaultEventRetentionDays, "TTL of event rows, in days (used when a migration creates an event table)")
	fs.Var(r.Retention, "retention", "set one table's TTL as `table=days` (0 = keep forever); repeatable; tables: "+strings.Join(history.RetentionTables(), ", "))
	fs.BoolVar(&r.Show, "show-retention", false, "print each table's retention after migrating")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if r.RetentionDays <= 0 {
			return usagef("--retention-days must be positive")
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
