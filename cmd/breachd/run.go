package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"breachd/bus"
	"breachd/deploy"
	"breachd/event"
	"breachd/history"
	"breachd/notify"
	"breachd/simulate"
)

// infraFlags declares where NATS and ClickHouse are, shared by the commands that need them.
type infraFlags struct {
	data, nats, natsCreds, clickhouse, chdbLib string
	partitions                                 int // only `run` declares it
}

func (f *infraFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&f.data, "data", envDefault("BREACHD_DATA", "data"), "data directory of the embedded engines (env BREACHD_DATA)")
	fs.StringVar(&f.nats, "nats", os.Getenv("BREACHD_NATS_URL"), "NATS server/cluster URLs, comma-separated; empty starts an embedded server (env BREACHD_NATS_URL)")
	natsCredsFlag(fs, &f.natsCreds)
	fs.StringVar(&f.clickhouse, "clickhouse", os.Getenv("BREACHD_CLICKHOUSE_DSN"), "ClickHouse DSN, e.g. clickhouse://user:pass@host:9000/breachd; empty starts the embedded engine (env BREACHD_CLICKHOUSE_DSN)")
	fs.StringVar(&f.chdbLib, "chdb-lib", "", "path of libchdb.so for the embedded engine (env BREACHD_CHDB_LIB; default: the cache scripts/setup.sh fills)")
}

func (f *infraFlags) config(log *slog.Logger) deploy.InfraConfig {
	return deploy.InfraConfig{DataDir: f.data, NATSURL: f.nats, NATSCreds: f.natsCreds, ClickHouseDSN: f.clickhouse, ChDBLib: f.chdbLib,
		Bus: bus.Config{Partitions: f.partitions}, Logger: log}
}

func runCommand() *command {
	var (
		infra        infraFlags
		demo         bool
		sim          = simulate.Defaults()
		noBreaches   bool
		demoRate     int
		rulePaths    string
		exitWhenDone bool
		metricsAddr  string
		stages       string
		logger       func() (*slog.Logger, error)
		inputs       deploy.SourceConfig
		respondFile  string
		notifyFile   string
		marks        string
		futureSkew   time.Duration
	)
	return &command{
		name:    "run",
		summary: "run the pipeline (all-in-one by default: embedded NATS and ClickHouse, every stage)",
		usage:   "[flags] [file.jsonl ... | -]",
		help: `
Runs ingest → detect → notify in one process. By default NATS JetStream and the ClickHouse
engine are embedded (data under --data); --nats and --clickhouse point the same stages at a NATS
cluster and a ClickHouse server instead, and --stages runs a subset, so several processes can
share the work.

Input: with --demo, a simulated school day with injected breaches; otherwise the JSON Lines
files given as arguments ("-" for stdin; stdin is also read when it is a pipe and no file is
given), in the canonical format or the one --format or --mapping names (SimpleSAMLphp logs,
Entra ID sign-ins, ECS, a service's own JSON). Inputs that run until breachd stops: --follow
(a growing file, like tail -F), --http-listen (POST /v1/events), --kafka-brokers (a consumer
group; offsets are committed only after the events are in JetStream). Without input the
stages run as a service for events other processes publish.

Incidents: deactivation is a dry run unless --respond names a configuration (SCIM, LDAP or
webhook adapters, allow-list, cap per organisation and hour; see deploy/README.md);
--notifications names the channels (webhook, Slack/Teams, e-mail, NATS) and routes. Deadline
warnings go out at --deadline-marks after awareness while an incident is not reported.

Ingest dead-letters (never drops) records that are not canonical events: among them events
timed more than --max-future-skew ahead of the clock (a source's clock or time zone gone
wrong, or a forgery); old events, a backfill, are taken whatever their age. Account
identifiers are normalised as they come in (NFC, invisible characters removed, lower case).

Incidents are printed as they open. The history is queryable while it runs:
  breachd history sql "SELECT id, account, severity, alert_count, summary FROM incidents FINAL"
Stop with Ctrl-C: batches in hand are written before anything is acknowledged.`,
		flags: func(fs *flag.FlagSet) {
			infra.declare(fs)
			fs.IntVar(&infra.partitions, "partitions", 0, "partition count of EVENTS: 0 adopts the recorded one (8 for a new stream); another value must match it")
			fs.BoolVar(&demo, "demo", false, "feed the built-in simulator of a school day with injected breaches")
			fs.Int64Var(&sim.Seed, "seed", sim.Seed, "simulator seed (with --demo)")
			fs.IntVar(&sim.Days, "days", sim.Days, "simulated school days (with --demo)")
			fs.IntVar(&sim.Orgs, "orgs", sim.Orgs, "simulated organisations (with --demo)")
			fs.BoolVar(&noBreaches, "no-breaches", false, "simulate without the injected breaches (with --demo)")
			fs.IntVar(&demoRate, "demo-rate", 0, "events per second fed by --demo; 0 = as fast as the pipeline takes them")
			fs.StringVar(&rulePaths, "rules", "", "rule files or directories, comma-separated; empty = the shipped default pack")
			fs.BoolVar(&exitWhenDone, "exit-when-done", false, "stop once the input is exhausted and every stage has caught up")
			fs.StringVar(&metricsAddr, "metrics-addr", "127.0.0.1:9464", "address of the Prometheus /metrics and /healthz endpoint; empty disables it")
			fs.StringVar(&stages, "stages", "", "comma-separated stages to run here: ingest, detect, notify (default all)")
			fs.StringVar(&respondFile, "respond", "", "deactivation configuration (YAML); empty: dry run, no account is changed")
			fs.StringVar(&notifyFile, "notifications", "", "notification channels and routes (YAML); empty: incidents are only printed")
			fs.StringVar(&marks, "deadline-marks", "24h,48h,66h", "times after awareness at which an unreported incident is escalated")
			fs.DurationVar(&futureSkew, "max-future-skew", event.DefaultMaxFutureSkew, "events timed more than this ahead of the clock go to the dead-letter stream (old events are never rejected for age); 0 turns the check off")
			declareSourceFlags(fs, &inputs)
			logger = logFlags(fs)
		},
		run: func(ctx context.Context, fs *flag.FlagSet, args []string) error {
			log, err := logger()
			if err != nil {
				return err
			}
			if demo {
				sim.Breaches = !noBreaches
				inputs.Demo, inputs.DemoRate = &sim, demoRate
			}
			inputs.Files = args
			if len(args) == 0 && !demo && stdinIsPipe() && !inputs.Endless() {
				inputs.Files = []string{"-"}
			}
			if err := inputs.Validate(); err != nil {
				return usagef("%v", err)
			}
			if exitWhenDone && inputs.Endless() {
				return usagef("--exit-when-done cannot be used with --follow, --http-listen or --kafka-brokers: they never finish")
			}
			watch, err := parseMarks(marks)
			if err != nil {
				return err
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
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			in, err := deploy.StartInfra(ctx, infra.config(log))
			if err != nil {
				return err
			}
			defer in.Close()
			inputs.DataDir, inputs.Console = infra.data, os.Stdout
			srcs, err := deploy.OpenSources(inputs, in.NC, log, reg)
			if err != nil {
				return err
			}
			defer srcs.Close()
			stopMetrics, metricsURL, err := serveMetrics(metricsAddr, reg, log)
			if err != nil {
				return err
			}
			defer stopMetrics()
			printBanner(in, metricsURL, infra.data, len(srcs.Sources) > 0)
			cfg := deploy.PipelineConfig{
				Sources: srcs.Sources, Rules: splitList(rulePaths), Stages: splitList(stages), Console: os.Stdout,
				ExitWhenDone: exitWhenDone, Registerer: reg, Logger: log, AfterEventsWritten: faultHook(),
				Enrich: srcs.Enrich, Respond: rc, Notifications: notifyFile, Watch: watch, MaxFutureSkew: skew,
			}
			if inputs.Finite() {
				cfg.OnIdle = func(ctx context.Context) { printSummary(ctx, in.History, exitWhenDone) }
			}
			return deploy.RunPipeline(ctx, in, cfg)
		},
	}
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

// parseMarks reads --deadline-marks.
func parseMarks(s string) (notify.WatchOptions, error) {
	var w notify.WatchOptions
	for _, p := range splitList(s) {
		d, err := time.ParseDuration(p)
		if err != nil || d <= 0 || d >= event.ReportWindow {
			return w, usagef("--deadline-marks: %q is not a duration between 0 and 72h (e.g. 24h)", p)
		}
		w.Marks = append(w.Marks, d)
	}
	return w, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// stdinIsPipe reports whether stdin is a pipe or a redirected file (not a terminal, not
// /dev/null, which are character devices).
func stdinIsPipe() bool {
	fi, err := os.Stdin.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice == 0
}

func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (stop func(), url string, err error) {
	if addr == "" {
		return func() {}, "", nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("--metrics-addr %s: %w (choose another address, or empty to disable)", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { // owned by stop, which shuts it down and waits
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint failed", "err", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, "http://" + ln.Addr().String() + "/metrics", nil
}

func printBanner(in *deploy.Infra, metricsURL, dataDir string, haveInput bool) {
	w := os.Stdout
	fmt.Fprintln(w, "breachd is running. Where to look:")
	fmt.Fprintf(w, "  NATS JetStream   %s  (streams EVENTS, ALERTS, DEADLETTER, INCIDENTS; KV bucket incidents)\n", in.NC.ConnectedUrlRedacted())
	if in.Endpoint != nil {
		fmt.Fprintf(w, "  ClickHouse       http://%s/  (embedded engine; user and password in %s/%s)\n", in.Endpoint.Addr(), dataDir, deploy.EndpointFile)
	} else {
		fmt.Fprintln(w, "  ClickHouse       the server given by --clickhouse")
	}
	if metricsURL != "" {
		fmt.Fprintf(w, "  Metrics          %s\n", metricsURL)
	}
	fmt.Fprintf(w, "  Incidents        printed below, and: breachd history sql --data %s \"SELECT id, account, severity, alert_count, summary FROM incidents FINAL\"\n", dataDir)
	if !haveInput {
		fmt.Fprintln(w, "  Input            none here: waiting for events published by other ingest processes")
	}
	fmt.Fprintln(w)
}

func printSummary(ctx context.Context, h *history.Store, exiting bool) {
	c, err := h.Count(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "summary:", err)
		return
	}
	fmt.Printf("\nInput processed. History holds %d auth, %d access and %d directory events, %d alerts, %d incidents.\n",
		c.Auth, c.Access, c.Directory, c.Alerts, c.Incidents)
	if !exiting {
		fmt.Println("Still running: query the history from another terminal, stop with Ctrl-C.")
	}
}

// faultHook returns the fault-injection hook BREACHD_FAULT asks for, for crash tests:
// "kill-after-insert" kills the process with SIGKILL right after the detector stored its first
// batch of events in history and before it acked anything. Unset (always, in production): nil.
func faultHook() func() {
	if os.Getenv("BREACHD_FAULT") != "kill-after-insert" {
		return nil
	}
	return func() {
		fmt.Fprintln(os.Stderr, "BREACHD_FAULT=kill-after-insert: killing myself after the insert, before the ack")
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}
