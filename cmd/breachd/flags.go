package main

import (
	"cmp"
	"context"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"breachd/bus"
	"breachd/deploy"
	"breachd/detect"
	"breachd/directory"
	"breachd/output"
)

// The flags several commands share. Each is declared once, below; a command adds the sets it
// takes. One command runs per process, so they live here.
var (
	infra         deploy.InfraConfig // --data, --chdb-lib, --nats, --nats-creds, --clickhouse, --partitions
	rulePaths     []string           // --rules
	metricsAddr   string             // --metrics-addr
	pprofAddr     string             // --pprof
	detectBatch   int                // --detect-batch
	detectWait    time.Duration      // --detect-wait
	dirHorizon    time.Duration      // --directory-horizon
	failoverAfter time.Duration      // --failover-after
	logLevel      string             // --log-level
	logFormat     string             // --log-format
	actor         string             // --as
	outFormat     = output.Table     // --format (output)
)

// dataFlags: where the embedded engines keep their data.
func dataFlags(fs *pflag.FlagSet) {
	fs.StringVar(&infra.DataDir, "data", cmp.Or(os.Getenv("BREACHD_DATA"), "data"), "data directory of the embedded engines (env BREACHD_DATA)")
	fs.StringVar(&infra.ChDBLib, "chdb-lib", "", "path of libchdb.so for the embedded engine (env BREACHD_CHDB_LIB; default: the cache scripts/setup.sh fills)")
}

// natsFlags: a NATS server or cluster instead of the embedded one.
func natsFlags(fs *pflag.FlagSet) {
	fs.StringVar(&infra.NATSURL, "nats", os.Getenv("BREACHD_NATS_URL"), "NATS server/cluster URLs, comma-separated; empty: the embedded server of --data (env BREACHD_NATS_URL)")
	fs.StringVar(&infra.NATSCreds, "nats-creds", os.Getenv("BREACHD_NATS_CREDS"),
		"NATS .creds file (user JWT and nkey seed, as nsc writes it) to log in to --nats with; "+
			"a user and password can instead be given in the URL: nats://user:pass@host:4222 (env BREACHD_NATS_CREDS)")
}

// clickhouseFlags: a ClickHouse server instead of the embedded engine.
func clickhouseFlags(fs *pflag.FlagSet) {
	fs.StringVar(&infra.ClickHouseDSN, "clickhouse", os.Getenv("BREACHD_CLICKHOUSE_DSN"), "ClickHouse DSN, e.g. clickhouse://user:pass@host:9000/breachd; empty: the embedded engine of --data (env BREACHD_CLICKHOUSE_DSN)")
}

// whereInstance is how a person's command finds the instance of the instance flags
// (deploy.Attach), for its help.
const whereInstance = `Where the engines are: --nats and --clickhouse where given; else those of the running
'breachd run' with the same --data (found through its endpoint file); else the embedded engines
on --data, opened here (only when no breachd process holds them).`

// instanceFlags: where the instance a command works on is (historyFlags: only its history).
func instanceFlags(fs *pflag.FlagSet) {
	historyFlags(fs)
	natsFlags(fs)
}

func historyFlags(fs *pflag.FlagSet) {
	dataFlags(fs)
	clickhouseFlags(fs)
}

// rulesFlag: the detection rules.
func rulesFlag(fs *pflag.FlagSet) {
	fs.StringSliceVar(&rulePaths, "rules", nil, "rule files or directories, comma-separated; empty = the shipped default pack")
}

// stageFlags: what every process running stages takes besides where the engines are.
func stageFlags(fs *pflag.FlagSet) {
	fs.IntVar(&infra.Bus.Partitions, "partitions", 0, "partition count of EVENTS: 0 adopts the recorded one (8 for a new stream); another value must match it")
	replicasFlag(fs)
	fs.BoolVar(&infra.AcceptLost, "accept-lost", false, "start although events the detectors had not processed were lost from the NATS store (exit status 3 says so): "+
		"give it to the run that re-ingests them (deploy/README.md, \"Store damage\")")
	fs.StringVar(&metricsAddr, "metrics-addr", "127.0.0.1:9464", "address of the Prometheus /metrics and /healthz endpoint (give each process on a host its own); empty disables it")
	pprofFlag(fs)
	logFlags(fs, "info")
	rulesFlag(fs)
	fs.IntVar(&detectBatch, "detect-batch", 20000, "most events the detector takes at once, and so writes to history in one insert: "+
		"larger spends less CPU per event (each insert costs the engine much per batch, little per row) and holds more memory "+
		"(some 3-5 KB per event, for the batch in hand and the one fetched ahead: up to 120-200 MB at 20000); smaller holds less. It adds no latency: see --detect-wait")
	fs.DurationVar(&detectWait, "detect-wait", 250*time.Millisecond, "longest the detector waits for a batch to fill before it takes what has arrived: "+
		"bounds the latency a partly filled batch adds; longer makes fuller batches (less CPU per event) at a low event rate; at most 10s")
	fs.DurationVar(&dirHorizon, "directory-horizon", directory.DefaultHorizon, "how far behind the newest directory event the detector keeps the older versions of directory facts that changed, "+
		"so that an event arriving late (a redelivery, a log shipped at night) is judged against the directory of its own time; "+
		"older events are judged against the latest version before the horizon. Costs memory only for facts that changed; 0 keeps no versions")
	fs.DurationVar(&failoverAfter, "failover-after", detect.DefaultFailoverAfter, "how long a standby detector or notifier (another process "+
		"with the same --member, or another notifier) waits for the active one to renew its pin before taking over: shorter fails over sooner "+
		"after a kill or a partition; too short lets a pause of the active (GC, an overloaded host) cost a takeover (a reset and a warm-up, nothing lost). At least 1s")
}

// replicasFlag: the replicas of the streams and buckets a process creates (bus/replicas.go).
func replicasFlag(fs *pflag.FlagSet) {
	fs.IntVar(&infra.Bus.Replicas, "replicas", 1, "replicas of breachd's streams and key-value buckets on a NATS cluster (3 for a three-node cluster; "+
		"an existing stream with fewer is scaled up, one with more keeps them); the embedded server has one node, so 1")
}

// directoryHorizonOf turns --directory-horizon into PipelineConfig.DirectoryHorizon (where 0
// is the default and a negative value keeps no versions).
func directoryHorizonOf() time.Duration {
	if dirHorizon == 0 {
		return -1
	}
	return dirHorizon
}

// checkDetectFlags refuses --detect-batch, --detect-wait and --directory-horizon values the
// detector cannot run with.
func checkDetectFlags() error {
	switch {
	case detectBatch < 1:
		return usagef("--detect-batch %d: want at least 1 event", detectBatch)
	case detectWait <= 0 || detectWait > detect.MaxFetchWait:
		return usagef("--detect-wait %s: want a positive duration up to %s (e.g. 250ms)", detectWait, detect.MaxFetchWait)
	case dirHorizon < 0:
		return usagef("--directory-horizon %s: want a duration of 0 (no versions) or more (e.g. 720h)", dirHorizon)
	case failoverAfter < detect.MinFailoverAfter:
		return usagef("--failover-after %s: want at least %s (e.g. 5s)", failoverAfter, detect.MinFailoverAfter)
	}
	return nil
}

// pprofFlag: the runtime profiles' endpoint.
func pprofFlag(fs *pflag.FlagSet) {
	fs.StringVar(&pprofAddr, "pprof", "", "loopback address (e.g. 127.0.0.1:6060) serving Go's runtime profiles at /debug/pprof/ (CPU, heap, allocations, goroutines); empty disables it")
}

// logFlags: the level (default level) and format of the logs a process running stages writes.
func logFlags(fs *pflag.FlagSet, level string) {
	fs.StringVar(&logLevel, "log-level", level, "log level: debug, info, warn, error")
	fs.StringVar(&logFormat, "log-format", "text", "log format: text or json (logs go to stderr)")
}

// withOutput adds --format to c, which prints its results in one of formats.
func withOutput(c *cobra.Command, formats []string) *cobra.Command {
	c.Flags().Var(output.Flag{Format: &outFormat, Formats: formats}, "format", "output: "+output.OrList(formats))
	return c
}

// withActor adds --as to c, which is audited or changes something; required: whoever it is
// must be named (a lookup of a person's data, a change), else it is audited as "unknown".
func withActor(c *cobra.Command, required bool) *cobra.Command {
	c.Flags().StringVar(&actor, "as", os.Getenv("USER"), "who is asking or making the change, for the audit log and the timeline (default $USER)")
	if required {
		annotate(c, "actor", "required")
	}
	return c
}

func annotate(c *cobra.Command, k, v string) {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[k] = v
}

// checkShared checks the shared flags c takes, before it runs.
func checkShared(c *cobra.Command) error {
	// Every command registers its flags when the tree is built, and a registration sets the
	// variable to its default: a shared variable whose default differs between commands
	// (--log-level: warn for bench) holds the last one registered. A flag the command line did
	// not set gets its own command's default back.
	if f := c.Flags().Lookup("log-level"); f != nil && !f.Changed {
		logLevel = f.DefValue
	}
	if serverMode(c) {
		return checkServer(c)
	}
	if c.Annotations["actor"] != "" && strings.TrimSpace(actor) == "" {
		return usagef("%s: --as is required ($USER is not set): every lookup and change names who made it", c.CommandPath())
	}
	return nil
}

// stageInfra is the infrastructure configuration of a process running stages: the instance
// flags, and the logger --log-level and --log-format ask for.
func stageInfra() (deploy.InfraConfig, error) {
	cfg := infra
	if cfg.Bus.Replicas < 1 || cfg.Bus.Replicas > bus.MaxReplicas {
		return cfg, usagef("--replicas %d: want 1 to %d (NATS's limit), e.g. 3 on a three-node cluster", cfg.Bus.Replicas, bus.MaxReplicas)
	}
	var err error
	if cfg.Logger, err = deploy.NewLogger(os.Stderr, logLevel, logFormat); err != nil {
		return cfg, usagef("%v (--log-level, --log-format)", err)
	}
	return cfg, nil
}

// quiet is the logger of people's commands: warnings and errors only.
func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// printFrom reaches what ac asks for of the instance of the instance flags (deploy.Attach,
// logging warnings and errors only), calls run and prints in --format the result it returns
// unless that is nil, then returns run's error.
func printFrom(ctx context.Context, ac deploy.AttachConfig, run func(ctx context.Context, a *deploy.Attached) (any, error)) error {
	ac.InfraConfig = infra
	ac.Logger = quiet()
	a, err := deploy.Attach(ctx, ac)
	if err != nil {
		return err
	}
	defer a.Close()
	return printResult(run(ctx, a))
}

// printResult prints v in --format unless it is nil, then returns err (or the error of
// printing).
func printResult(v any, err error) error {
	if v != nil {
		if werr := output.Write(os.Stdout, outFormat, v); err == nil {
			err = werr
		}
	}
	return err
}

// result is v to print, or nothing on an error.
func result[T any](v T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

// charDevice reports whether f is a terminal (or /dev/null), or cannot be told: not a pipe or a
// file.
func charDevice(f *os.File) bool {
	fi, err := f.Stat()
	return err != nil || fi.Mode()&os.ModeCharDevice != 0
}
