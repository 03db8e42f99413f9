package main

import (
	"github.com/spf13/cobra"

	"breachd/bus"
	"breachd/deploy"
)

func detectCommand() *cobra.Command {
	var member, members int
	var exitWhenDone bool
	c := &cobra.Command{
		Use:   "detect --member I --members N --nats URL --clickhouse DSN",
		Args:  posArgs(0, 0, ": a detector reads the events from NATS"),
		Short: "run one of N detectors sharing the events (needs a NATS cluster and a ClickHouse server)",
		Long: `Runs the detector stage as one member of a set of N detector processes that share the EVENTS
stream. Events are partitioned by a hash of their account (the partition count P is recorded in
the stream; default 8); member I owns the partitions p with p mod N = I, so every event of an
account reaches the same detector and per-account sliding windows stay correct. Every member
reads all directory events (each needs the whole directory). Start the N members with the same
--members and the member numbers 0 to N-1; N may not exceed P.

Any number of processes may run the same member: one is active (NATS delivers its events only to
the process pinned to the member's durable), the others are hot standbys that keep their
directory current and take over --failover-after (default 5s) after the active one stops
renewing its pin (killed, paused, cut off); a clean stop hands over at once. After a kill on an
idle stream (the dead detector had been given every event there is) the takeover waits for the
next event, or for AckWait (90 s), when the dead detector's batch comes again. Start every
process of a member with the same --failover-after: the durable keeps the value of the process
that started last, and the active follows it. The gauge breach_detect_active and the counter
breach_detect_takeovers_total carry the label member only: sum them over a member's processes.

A detector process needs shared infrastructure: --nats (a NATS cluster with JetStream) and
--clickhouse (a ClickHouse server) are required, and it refuses to start the embedded engines,
which belong to one process. For a single process use 'breachd run' (one detector, embedded
engines by default).

On start it rebuilds the directory from history and the rules' sliding windows from the events
it had already processed (the last longest window of the stream), then consumes through its
durable consumer detect-I-of-N. Changing N: stop every detector, then start the new set; the
new consumers start where the old set stopped (see deploy/README.md).`,
	}
	fs := c.Flags()
	natsFlags(fs)
	clickhouseFlags(fs)
	stageFlags(fs)
	fs.IntVar(&member, "member", 0, "this detector's number in the set, 0 to --members - 1")
	fs.IntVar(&members, "members", 1, "number of detectors in the set")
	fs.BoolVar(&exitWhenDone, "exit-when-done", false, "stop once this detector has caught up with everything in its partitions")
	c.RunE = func(c *cobra.Command, _ []string) error {
		switch p := infra.Bus.Partitions; {
		case infra.NATSURL == "" || infra.ClickHouseDSN == "":
			return usagef("--nats and --clickhouse are required: detectors in separate processes share one NATS cluster and one ClickHouse server; " +
				"the embedded engines serve only the process that starts them (use 'breachd run' for a single process)")
		case members < 1 || members > bus.MaxPartitions:
			return usagef("--members %d: want 1 to %d", members, bus.MaxPartitions)
		case member < 0 || member >= members:
			return usagef("--member %d: want 0 to %d (--members %d)", member, members-1, members)
		case p < 0 || p > bus.MaxPartitions:
			return usagef("--partitions %d: want 0 to %d", p, bus.MaxPartitions)
		}
		if err := checkDetectFlags(); err != nil {
			return err
		}
		cfg, err := stageInfra()
		if err != nil {
			return err
		}
		cfg.Logger = cfg.Logger.With("member", member, "members", members)
		return deploy.RunProcess(c.Context(), deploy.ProcessConfig{Infra: cfg, MetricsAddr: metricsAddr, PprofAddr: pprofAddr, Pipeline: deploy.PipelineConfig{
			Stages: []string{deploy.StageDetect}, Rules: rulePaths, Member: member, Members: members,
			ExitWhenDone: exitWhenDone, Logger: cfg.Logger, DetectBatch: detectBatch, DetectWait: detectWait,
			DirectoryHorizon: directoryHorizonOf(),
			FailoverAfter:    failoverAfter,
		}})
	}
	return c
}
