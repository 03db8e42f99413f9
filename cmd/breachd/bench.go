package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"breachd/bench"
	"breachd/simulate"
)

func benchCommand() *cobra.Command {
	var (
		cfg    = bench.Config{Sim: simulate.Defaults(), Rate: 10000, Duration: 30 * time.Second, Probes: 10}
		asJSON bool
		keep   bool
	)
	cfg.Sim.Orgs, cfg.Sim.Days = 5, 5
	c := &cobra.Command{
		Use:   "bench [flags]",
		Short: "measure throughput, CPU, memory and latency: raw JetStream, then the whole pipeline",
		Long: `Measures, in one run and one process, on the same NATS server and storage:

  raw       JetStream alone: the workload's events (canonical JSON, as simulated) published to a
            scratch stream (file storage) with PublishAsync (4096 in flight) and each event's
            id as its message id (Nats-Msg-Id, as ingest publishes), then consumed by a pull
            consumer acking each message. The stream is deleted after.
  pipeline  the same events through the whole pipeline as 'breachd run --exit-when-done FILE'
            runs it: ingest → EVENTS → detect (the rule pack, history writes to ClickHouse) →
            ALERTS → notify (incidents) → the console's announcer, all in this process.
  latency   on the same pipeline once it has caught up: a simulated workload offered at
            --rate events/s (batches about every 10 ms) for --duration, with --probes breaches per
            second among them (each on a fresh account: an export of 800 special-needs
            records, or 20 failed logins then a successful one, in turn, which the shipped
            pack turns into an incident). Its world is seeded --seed + 1 and dated after the
            pipeline phase's workload (which ends whole weeks before the last weekday, on the
            same weekday), so every account's events move forward in time.

The numbers:
  events/s       raw: events / (publish + consume seconds). pipeline: events / seconds from
                 the first record handed to ingest until the detector, the notifier and the
                 console's announcer have caught up (noticed within 50 ms). Not timed: the
                 start-up, including the detector's warm-up replay of the stream on a reused
                 --data or external servers (the phases begin once the detector asks for
                 events), and the incident watcher's settling pass of --exit-when-done.
  ratio to raw   pipeline events/s over raw events/s of the same run: the share of JetStream's
                 own speed the pipeline keeps (the goal is at least 0.5).
  CPU µs/event   user + system CPU of the whole process over the phase (getrusage; the
                 embedded NATS server and ClickHouse engine run in it) per event.
  peak RSS       the process's highest resident set during the phase (VmHWM, reset at the
                 phase's start; "(process)" where Linux does not allow the reset: then it is
                 the peak since the process started).
  latency        from when an event was due at the offered rate (t0: the feed's start + its
                 batch's number × the batch interval (about 10 ms), not when ingest took it, so that time spent waiting
                 for a slow ingest counts) until its alert was published on ALERTS, and until
                 the incident its alert opened was published on INCIDENTS (core NATS
                 subscriptions), in ms: p50, p95, p99 and max, with the number of samples each
                 rests on (the probes, plus the workload's own breaches), and how many probes
                 got their alert and their incident (each should be all of them).
                 "kept up": the achieved rate is at least 98 % of the offered one and the
                 detector lagged by at most a second of input when the feed ended; the lag,
                 the latest hand-off to ingest and how long the pipeline then took to catch
                 up are printed.

Comparing runs: run the same command (same --orgs, --days, --events, --rate) before and after
a change, on an otherwise idle machine, a few times each, interleaved; compare CPU µs/event
and the ratio to raw (both steadier than events/s on a shared machine) and latency
percentiles resting on enough samples. --json gives the same numbers under stable names (see
bench/doc.go); progress goes to stderr either way.

By default the engines are embedded in a fresh temporary data directory, removed afterwards
(--keep keeps it and the workload file; --data names a directory of your own, which is kept).
Numbers to compare come from fresh engines: on a reused --data or on external servers the
streams, history and the earlier runs' open incidents (which the incident watcher keeps
passing over) are still there.

--nats and --clickhouse measure against servers instead: point them only at a dedicated test
NATS account and ClickHouse database. The bench writes events, alerts and incidents there like
any pipeline and creates and deletes a scratch stream named ` + bench.ScratchPrefix + `<run tag>; its
NATS user must be allowed to create and delete such streams and to subscribe to the alert and
incident subjects.`,
		Example: `  breachd bench
  breachd bench --json > before.json
  breachd bench --phases pipeline --orgs 10 --pprof 127.0.0.1:6060
  breachd bench --phases latency --rate 20000 --duration 60s`,
		Args: noArgs,
	}
	fs := c.Flags()
	fs.StringSliceVar(&cfg.Phases, "phases", bench.Phases, "phases to run, comma-separated: raw, pipeline, latency")
	fs.IntVar(&cfg.Sim.Orgs, "orgs", cfg.Sim.Orgs, "simulated organisations of the workload")
	fs.IntVar(&cfg.Sim.Days, "days", cfg.Sim.Days, "simulated days of the raw and pipeline phases' workload")
	fs.Int64Var(&cfg.Sim.Seed, "seed", cfg.Sim.Seed, "simulator seed of the raw and pipeline phases' workload (the latency phase's: seed + 1)")
	fs.IntVar(&cfg.MaxEvents, "events", 0, "cap on the raw and pipeline phases' workload, in events (0: all that --orgs and --days give)")
	fs.IntVar(&cfg.Rate, "rate", cfg.Rate, "latency phase: events per second offered")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "latency phase: how long events are offered")
	fs.Float64Var(&cfg.Probes, "probes", cfg.Probes, "latency phase: probe breaches per second (each opens an incident)")
	fs.BoolVar(&asJSON, "json", false, "print the results as JSON (field names: bench/doc.go)")
	fs.BoolVar(&keep, "keep", false, "keep the temporary directory (data and workload file) and say where it is")
	dataFlags(fs)
	data := fs.Lookup("data")
	data.Usage, data.DefValue = "data directory of the embedded engines, kept afterwards (default: a fresh temporary directory; BREACHD_DATA is not used)", ""
	natsFlags(fs)
	clickhouseFlags(fs)
	// The bench writes events, alerts and incidents: only servers named on its command line,
	// never those of the environment.
	fs.Lookup("nats").Usage = "NATS server/cluster URLs to measure against instead of the embedded server: a dedicated test account (BREACHD_NATS_URL is not used)"
	fs.Lookup("clickhouse").Usage = "ClickHouse DSN to measure against instead of the embedded engine: a dedicated test database (BREACHD_CLICKHOUSE_DSN is not used)"
	rulesFlag(fs)
	pprofFlag(fs)
	logFlags(fs, "warn")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if err := cfg.Validate(); err != nil {
			return usagef("%v", err)
		}
		inf, err := stageInfra()
		if err != nil {
			return err
		}
		work, err := os.MkdirTemp("", "breachd-bench-")
		if err != nil {
			return err
		}
		if keep {
			defer fmt.Fprintf(os.Stderr, "bench: kept %s\n", work)
		} else {
			defer os.RemoveAll(work)
		}
		if !fs.Changed("data") {
			inf.DataDir = filepath.Join(work, "data")
		}
		if !fs.Changed("nats") {
			inf.NATSURL = ""
		}
		if !fs.Changed("clickhouse") {
			inf.ClickHouseDSN = ""
		}
		cfg.Infra, cfg.Rules, cfg.WorkDir, cfg.PprofAddr = inf, rulePaths, work, pprofAddr
		cfg.Progress, cfg.Logger, cfg.Version = os.Stderr, inf.Logger, version
		rep, err := bench.Run(c.Context(), cfg)
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(rep)
		}
		return rep.WriteTable(os.Stdout)
	}
	return c
}
