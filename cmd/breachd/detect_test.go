package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"breachd/deploy"
	"breachd/detect"
	"breachd/ingest"
	"breachd/notify"
	"breachd/simulate"
)

func TestDetectUsage(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"detect", "--help"}, 0, "-members"},
		{[]string{"help", "detect"}, 0, "refuses to start the embedded engines"},
		{[]string{"detect"}, 2, "--nats and --clickhouse are required"},
		{[]string{"detect", "--nats", "nats://127.0.0.1:1"}, 2, "--nats and --clickhouse are required"},
		{[]string{"detect", "--nats", "n", "--clickhouse", "c", "--member", "2", "--members", "2"}, 2, "--member 2: want 0 to 1"},
		{[]string{"detect", "--nats", "n", "--clickhouse", "c", "--members", "0"}, 2, "--members 0"},
		{[]string{"detect", "--nats", "n", "--clickhouse", "c", "x.jsonl"}, 2, "unexpected arguments"},
	}
	for _, c := range cases {
		out, errs, code := breachd(t, nil, c.args...)
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("breachd %v: exit %d, output %q; want exit %d containing %q", c.args, code, out+errs, c.code, c.want)
		}
	}
}

// TestDetectProcessesShareInfra runs the deployment of deploy/README.md with real processes:
// this test process holds the infrastructure (the embedded NATS server and the embedded
// ClickHouse engine's endpoint stand in for a NATS cluster and a ClickHouse server) and
// ingests a simulated day; two `breachd detect` processes, members 0 and 1 of 2, detect until
// they have caught up; a notifier then opens the incidents: one per injected breach.
func TestDetectProcessesShareInfra(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	in, natsURL := sharedInfra(ctx, t)
	cfg := simulate.Defaults()
	cfg.Orgs = 1
	gen := ingestSimulated(ctx, t, in, cfg)

	var wg sync.WaitGroup
	logs := make([]bytes.Buffer, 2)
	errs := make([]error, 2)
	for i := range 2 {
		cmd := exec.CommandContext(ctx, binary, "detect", "--member", strconv.Itoa(i), "--members", "2",
			"--nats", natsURL, "--clickhouse", in.EndpointDSN, "--exit-when-done", "--metrics-addr", "")
		cmd.Stdout, cmd.Stderr = &logs[i], &logs[i]
		wg.Go(func() { errs[i] = cmd.Run() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("breachd detect --member %d: %v\n%s", i, err, logs[i].String())
		}
		if testing.Verbose() {
			t.Logf("member %d:\n%s", i, logs[i].String())
		}
		if want := fmt.Sprintf("durable=%s", detect.DurableName(i, 2)); !strings.Contains(logs[i].String(), want) {
			t.Errorf("member %d's log lacks %q:\n%s", i, want, logs[i].String())
		}
	}

	if err := deploy.RunPipeline(ctx, in, deploy.PipelineConfig{Stages: []string{deploy.StageNotify}, ExitWhenDone: true, Logger: quietLog}); err != nil {
		t.Fatalf("notify: %v", err)
	}
	store, err := notify.NewStore(context.Background(), in.JS)
	if err != nil {
		t.Fatal(err)
	}
	incidents, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, inc := range incidents {
		got = append(got, inc.Account)
	}
	for _, b := range gen.Breaches() {
		want = append(want, b.Account)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, slices.Compact(want)) {
		t.Errorf("incidents for %v, want one per breach account %v", got, want)
	}
	c, err := in.History.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth == 0 || c.Access == 0 || c.Directory == 0 {
		t.Errorf("history after the detectors: %+v", c)
	}
}

// quietLog discards what the test process's own stages log.
var quietLog = slog.New(slog.DiscardHandler)

// sharedInfra starts the infrastructure that `breachd detect` processes of a test share — this
// process's embedded NATS server and the embedded ClickHouse engine's endpoint stand in for a
// NATS cluster and a ClickHouse server — and closes it when the test ends. The URL logs in as
// the embedded server's admin: the pipeline's credential is only in memory of the process that
// started the server (a NATS cluster has users of its own).
func sharedInfra(ctx context.Context, tb testing.TB) (*deploy.Infra, string) {
	tb.Helper()
	data := filepath.Join(tb.TempDir(), "data")
	in, err := deploy.StartInfra(ctx, deploy.InfraConfig{DataDir: data, Logger: quietLog})
	if err != nil {
		tb.Fatalf("start infra (needs libchdb.so: scripts/setup.sh): %v", err)
	}
	tb.Cleanup(in.Close)
	users, err := deploy.ReadNATSUsers(data)
	if err != nil {
		tb.Fatal(err)
	}
	u, err := url.Parse(in.NC.ConnectedUrl())
	if err != nil {
		tb.Fatal(err)
	}
	u.User = url.UserPassword(users.Admin.User, users.Admin.Password)
	return in, u.String()
}

// ingestSimulated ingests the simulated workload of cfg through this process's ingest stage.
func ingestSimulated(ctx context.Context, tb testing.TB, in *deploy.Infra, cfg simulate.Config) *simulate.Generator {
	tb.Helper()
	gen, err := simulate.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := deploy.RunPipeline(ctx, in, deploy.PipelineConfig{Stages: []string{deploy.StageIngest},
		Sources: []ingest.Source{deploy.NewDemoSource(gen, 0)}, ExitWhenDone: true, Logger: quietLog}); err != nil {
		tb.Fatalf("ingest: %v", err)
	}
	return gen
}
