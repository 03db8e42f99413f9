package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
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
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	data := filepath.Join(t.TempDir(), "data")
	in, err := deploy.StartInfra(ctx, deploy.InfraConfig{DataDir: data, Logger: quiet})
	if err != nil {
		t.Fatalf("start infra (needs libchdb.so: scripts/setup.sh): %v", err)
	}
	defer in.Close()
	cfg := simulate.Defaults()
	cfg.Orgs = 1
	gen, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := deploy.RunPipeline(ctx, in, deploy.PipelineConfig{Stages: []string{deploy.StageIngest},
		Sources: []ingest.Source{deploy.NewDemoSource(gen, 0)}, ExitWhenDone: true, Logger: quiet}); err != nil {
		t.Fatalf("ingest: %v", err)
	}

	// The detectors log in as the embedded server's admin: the pipeline's credential is only in
	// memory of the process that started the server (a NATS cluster has users of its own).
	users, err := deploy.ReadNATSUsers(data)
	if err != nil {
		t.Fatal(err)
	}
	natsURL, err := url.Parse(in.NC.ConnectedUrl())
	if err != nil {
		t.Fatal(err)
	}
	natsURL.User = url.UserPassword(users.Admin.User, users.Admin.Password)
	var wg sync.WaitGroup
	logs := make([]bytes.Buffer, 2)
	errs := make([]error, 2)
	for i := range 2 {
		cmd := exec.CommandContext(ctx, binary, "detect", "--member", strconv.Itoa(i), "--members", "2",
			"--nats", natsURL.String(), "--clickhouse", in.EndpointDSN, "--exit-when-done", "--metrics-addr", "")
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

	if err := deploy.RunPipeline(ctx, in, deploy.PipelineConfig{Stages: []string{deploy.StageNotify}, ExitWhenDone: true, Logger: quiet}); err != nil {
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
