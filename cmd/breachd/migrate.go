package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"breachd/deploy"
	"breachd/history"
)

func migrateCommand() *cobra.Command {
	var (
		retention int
		perTable  = history.Retention{}
		show      bool
	)
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
audit log are kept forever. --retention TABLE=DAYS changes one table's TTL on an existing
history (0 keeps its rows forever; repeat the flag for several tables); access_by_subject
follows access_events. ClickHouse removes expired rows in the background. --show-retention
prints what each table keeps now.

Examples:
  breachd migrate --retention auth_events=180 --retention access_events=180 --retention audit=1825
  breachd migrate --show-retention`,
	}
	fs := c.Flags()
	historyFlags(fs)
	fs.IntVar(&retention, "retention-days", history.DefaultEventRetentionDays, "TTL of event rows, in days (used when a migration creates an event table)")
	fs.Var(perTable, "retention", "set one table's TTL as `table=days` (0 = keep forever); repeatable; tables: "+strings.Join(history.RetentionTables(), ", "))
	fs.BoolVar(&show, "show-retention", false, "print each table's retention after migrating")
	c.RunE = func(c *cobra.Command, _ []string) error {
		ctx := c.Context()
		if retention <= 0 {
			return usagef("--retention-days must be positive")
		}
		cfg := infra
		cfg.Logger = quiet()
		a, err := deploy.Attach(ctx, deploy.AttachConfig{InfraConfig: cfg, History: true, Owner: true})
		if err != nil {
			return err
		}
		defer a.Close()
		store := a.History
		n, err := store.Migrate(ctx, retention)
		if err != nil {
			return err
		}
		fmt.Printf("applied %d migrations; the schema is up to date\n", n)
		if len(perTable) > 0 {
			ran, err := store.ApplyRetention(ctx, perTable)
			for _, stmt := range ran {
				fmt.Println(stmt)
			}
			if err != nil {
				return err
			}
			if len(ran) == 0 {
				fmt.Println("retention unchanged")
			}
		}
		if show {
			cur, err := store.RetentionNow(ctx)
			if err != nil {
				return err
			}
			for _, t := range append(history.RetentionTables(), "access_by_subject") {
				switch d := cur[t]; {
				case d == 0:
					fmt.Printf("%-18s forever\n", t)
				case d < 0:
					fmt.Printf("%-18s a TTL breachd did not write (see SHOW CREATE TABLE %s)\n", t, t)
				default:
					fmt.Printf("%-18s %d days\n", t, d)
				}
			}
		}
		return nil
	}
	return c
}
