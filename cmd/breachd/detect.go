package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"breachd/bus"
	"breachd/deploy"
)

func detectCommand() *command {
	var (
		natsURL, chDSN  string
		natsCreds       string
		member, members int
		partitions      int
		rulePaths       string
		exitWhenDone    bool
		metricsAddr     string
		logger          func() (*slog.Logger, error)
	)
	return &command{
		name:    "detect",
		summary: "run one of N detectors sharing the events (needs a NATS cluster and a ClickHouse server)",
		usage:   "--member I --members N --nats URL --clickhouse DSN [flags]",
		help: `
Runs the detector stage as one member of a set of N detector processes that share the EVENTS
stream. Events are partitioned by a hash of their account (the partition count P is recorded in
the stream; default 8); member I owns the partitions p with p mod N = I, so every event of an
account reaches the same detector and per-account sliding windows stay correct. Every member
reads all directory events (each needs the whole directory). Start the N members with the same
--members and the member numbers 0 to N-1; N may not exceed P.

A detector process needs shared infrastructure: --nats (a NATS cluster with JetStream) and
--clickhouse (a ClickHouse server) are required, and it refuses to start the embedded engines,
which belong to one process. For a single process use 'breachd run' (one detector, embedded
engines by default).

On start it rebuilds the directory from history and the rules' sliding windows from the events
it had already processed (the last longest window of the stream), then consumes through its
durable consumer detect-I-of-N. Changing N: stop every detector, then start the new set; the
new consumers start where the old set stopped (see deploy/README.md).`,
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&member, "member", 0, "this detector's number in the set, 0 to --members - 1")
			fs.IntVar(&members, "members", 1, "number of detectors in the set")
			fs.StringVar(&natsURL, "nats", os.Getenv("BREACHD_NATS_URL"), "NATS cluster URLs, comma-separated (required; env BREACHD_NATS_URL)")
			natsCredsFlag(fs, &natsCreds)
			fs.StringVar(&chDSN, "clickhouse", os.Getenv("BREACHD_CLICKHOUSE_DSN"), "ClickHouse DSN, e.g. clickhouse://user:pass@host:9000/breachd (required; env BREACHD_CLICKHOUSE_DSN)")
			fs.IntVar(&partitions, "partitions", 0, "partition count of EVENTS: 0 adopts the recorded one (8 for a new stream); another value must match it")
			fs.StringVar(&rulePaths, "rules", "", "rule files or directories, comma-separated; empty = the shipped default pack")
			fs.BoolVar(&exitWhenDone, "exit-when-done", false, "stop once this detector has caught up with everything in its partitions")
			fs.StringVar(&metricsAddr, "metrics-addr", "127.0.0.1:9464", "address of /metrics and /healthz (give each detector on a host its own); empty disables it")
			logger = logFlags(fs)
		},
		run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			switch {
			case len(args) > 0:
				return usagef("unexpected arguments %q: a detector reads the events from NATS", args)
			case natsURL == "" || chDSN == "":
				return usagef("--nats and --clickhouse are required: detectors in separate processes share one NATS cluster and one ClickHouse server; " +
					"the embedded engines serve only the process that starts them (use 'breachd run' for a single process)")
			case members < 1 || members > bus.MaxPartitions:
				return usagef("--members %d: want 1 to %d", members, bus.MaxPartitions)
			case member < 0 || member >= members:
				return usagef("--member %d: want 0 to %d (--members %d)", member, members-1, members)
			case partitions < 0 || partitions > bus.MaxPartitions:
				return usagef("--partitions %d: want 0 to %d", partitions, bus.MaxPartitions)
			}
			log, err := logger()
			if err != nil {
				return err
			}
			log = log.With("member", member, "members", members)
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			in, err := deploy.StartInfra(ctx, deploy.InfraConfig{NATSURL: natsURL, NATSCreds: natsCreds, ClickHouseDSN: chDSN,
				Bus: bus.Config{Partitions: partitions}, Logger: log})
			if err != nil {
				return err
			}
			defer in.Close()
			stopMetrics, _, err := serveMetrics(metricsAddr, reg, log)
			if err != nil {
				return err
			}
			defer stopMetrics()
			return deploy.RunPipeline(ctx, in, deploy.PipelineConfig{
				Stages: []string{deploy.StageDetect}, Rules: splitList(rulePaths), Member: member, Members: members,
				ExitWhenDone: exitWhenDone, Registerer: reg, Logger: log,
			})
		},
	}
}
