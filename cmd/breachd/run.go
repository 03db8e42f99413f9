package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"

	"breachd/deploy"
	"breachd/event"
	"breachd/notify"
	"breachd/simulate"
)

// afterEventsWritten is the crash tests' fault point (faults.go, built with -tags faults);
// nil in the production binary.
var afterEventsWritten func()

func runCommand() *cobra.Command {
	var (
		demo, noBreaches, exitWhenDone bool
		sim                            = simulate.Defaults()
		demoRate                       int
		demoStart                      string
		respondFile, notifyFile        string
		stages, marks                  []string
		futureSkew                     time.Duration
		inputs                         deploy.SourceConfig
		api                            deploy.APIConfig
	)
	c := &cobra.Command{
		Use:   "run [flags] [file.jsonl ... | -]",
		Short: "run the pipeline (all-in-one by default: embedded NATS and ClickHouse, every stage)",
		Long: `Runs ingest → detect → notify in one process. By default NATS JetStream and the ClickHouse
engine are embedded (data under --data); --nats and --clickhouse point the same stages at a NATS
cluster and a ClickHouse server instead, and --stages runs a subset, so several processes can
share the work.

Input: with --demo, a simulated school day with injected breaches; otherwise the JSON Lines
files given as arguments ("-" for stdin; stdin is also read when it is a pipe and no file is
given), in the canonical format or the one --input-format or --mapping names (SimpleSAMLphp
logs, Entra ID sign-ins, ECS, a service's own JSON). Inputs that run until breachd stops:
--follow, --http-listen, --kafka-brokers. Without input the stages run as a service for events
other processes publish.

Incidents: deactivation is a dry run unless --respond names a configuration (SCIM, LDAP or
webhook adapters, allow-list, cap per organisation and hour; see deploy/README.md);
--notifications names the channels (webhook, Slack/Teams, e-mail, NATS) and routes.

Ingest dead-letters (never drops) records that are not canonical events, among them events
too far ahead of the clock (--max-future-skew). Account identifiers are normalised as they
come in (NFC, invisible characters removed, lower case).

The HTTP API (sign-in, incidents, history lookups, rules, dead letters) is served on --listen
(default 127.0.0.1:8080; empty: none); the banner prints its URL. On the first start (no users
file) an admin is created with the password in BREACHD_ADMIN_PASSWORD, or a random one printed
once in the banner. 'breachd users' adds people and API tokens.

Incidents are printed as they open. The history is queryable while it runs:
  breachd history sql "SELECT id, account, severity, alert_count, summary FROM incidents FINAL"
Stop with Ctrl-C: batches in hand are written before anything is acknowledged.`,
	}
	fs := c.Flags()
	instanceFlags(fs)
	stageFlags(fs)
	fs.BoolVar(&demo, "demo", false, "feed the built-in simulator of a school day with injected breaches")
	fs.Int64Var(&sim.Seed, "seed", sim.Seed, "simulator seed (with --demo)")
	fs.IntVar(&sim.Days, "days", sim.Days, "simulated school days (with --demo)")
	fs.IntVar(&sim.Orgs, "orgs", sim.Orgs, "simulated organisations (with --demo)")
	fs.StringVar(&demoStart, "start", "", "the first simulated day, YYYY-MM-DD (with --demo; default: the days end on the last weekday before today, so the console's default windows show them)")
	fs.BoolVar(&noBreaches, "no-breaches", false, "simulate without the injected breaches (with --demo)")
	fs.IntVar(&demoRate, "demo-rate", 0, "events per second fed by --demo; 0 = as fast as the pipeline takes them")
	fs.BoolVar(&exitWhenDone, "exit-when-done", false, "stop once the input is exhausted and every stage has caught up")
	fs.StringSliceVar(&stages, "stages", nil, "comma-separated stages to run here: ingest, detect, notify, api (default: all, api unless --listen is empty; a named api serves on --listen or its default)")
	fs.StringVar(&respondFile, "respond", "", "deactivation configuration (YAML); empty: dry run, no account is changed")
	fs.StringVar(&notifyFile, "notifications", "", "notification channels and routes (YAML); empty: incidents are only printed")
	fs.StringSliceVar(&marks, "deadline-marks", []string{"24h", "48h", "66h"}, "times after awareness at which an unreported incident is escalated")
	fs.DurationVar(&futureSkew, "max-future-skew", event.DefaultMaxFutureSkew, "events timed more than this ahead of the clock go to the dead-letter stream (old events are never rejected for age); 0 turns the check off")
	declareSourceFlags(fs, &inputs)
	apiFlags(fs, &api, deploy.DefaultAPIAddr)
	c.RunE = func(c *cobra.Command, args []string) error {
		ctx := c.Context()
		if err := checkDetectFlags(); err != nil {
			return err
		}
		cfg, err := stageInfra()
		if err != nil {
			return err
		}
		if demo {
			// The last of the simulated days is the last weekday before today (days run on
			// through weekends, as the simulator's do), so no day lies in the future.
			sim.Start = simulate.LastSchoolDay(time.Now()).AddDate(0, 0, -max(sim.Days-1, 0))
			if demoStart != "" {
				d, err := time.ParseInLocation("2006-01-02", demoStart, sim.Start.Location())
				if err != nil {
					return usagef("--start: %v", err)
				}
				sim.Start = d
			}
			sim.Breaches = !noBreaches
			inputs.Demo, inputs.DemoRate = &sim, demoRate
		}
		inputs.Files = args
		if len(args) == 0 && !demo && !charDevice(os.Stdin) && !inputs.Endless() {
			inputs.Files = []string{"-"}
		}
		if err := inputs.Validate(); err != nil {
			return usagef("%v", err)
		}
		if err := api.Check(); err != nil {
			return usagef("%v", err)
		}
		if exitWhenDone && inputs.Endless() {
			return usagef("--exit-when-done cannot be used with --follow, --http-listen or --kafka-brokers: they never finish")
		}
		watch, err := notify.ParseMarks(marks)
		if err != nil {
			return usagef("--deadline-marks: %v", err)
		}
		skew, err := futureSkewOf(futureSkew)
		if err != nil {
			return err
		}
		var rc *deploy.RespondConfig
		if respondFile != "" {
			if rc, err = deploy.LoadRespondConfig(respondFile); err != nil {
				return err
			}
		}
		inputs.DataDir, inputs.Console = infra.DataDir, os.Stdout
		api.AdminPassword, api.UsersFile = os.Getenv("BREACHD_ADMIN_PASSWORD"), usersPath()
		return deploy.RunProcess(ctx, deploy.ProcessConfig{Infra: cfg, MetricsAddr: metricsAddr, PprofAddr: pprofAddr, Inputs: &inputs, Banner: os.Stdout,
			Pipeline: deploy.PipelineConfig{Rules: rulePaths, Stages: stages, Console: os.Stdout, ExitWhenDone: exitWhenDone,
				Logger: cfg.Logger, DetectBatch: detectBatch, DetectWait: detectWait, FailoverAfter: failoverAfter, AfterEventsWritten: afterEventsWritten, Respond: rc, Notifications: notifyFile, Watch: notify.WatchOptions{Marks: watch}, MaxFutureSkew: skew, API: api,
				DirectoryHorizon: directoryHorizonOf()}})
	}
	return c
}

// futureSkewOf turns --max-future-skew into PipelineConfig.MaxFutureSkew (where 0 is the
// default and a negative value is off).
func futureSkewOf(d time.Duration) (time.Duration, error) {
	switch {
	case d < 0:
		return 0, usagef("--max-future-skew: %s is negative (0 turns the check off)", d)
	case d == 0:
		return -1, nil
	}
	return d, nil
}
