package deploy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"breachd/bus"
	"breachd/event"
	"breachd/ingest"
	"breachd/notify"
	"breachd/simulate"
)

// badLines are not canonical events; each must reach the dead-letter stream.
var badLines = []string{
	`this is not json`,
	`{"kind":"login","id":"x-1","time":"2026-11-02T08:00:00Z","org":"bergen.kommune.no"}`,
	`{"kind":"auth","id":"x-2","time":"yesterday","org":"bergen.kommune.no","user":"a@b","service":"s","result":"success"}`,
	`{"kind":"access","id":"x-3","time":"2026-11-02T08:00:00Z","org":"bergen.kommune.no","actor":"a@b","actor_role":"teacher","action":"view","resource":"grades","service":"s"}`,
}

// writeSimulation writes a small simulated day with injected breaches, plus badLines, to a
// JSON Lines file, and returns the path, the valid events by kind, and the generator.
func writeSimulation(t *testing.T, dir string) (string, map[event.Kind]int, *simulate.Generator) {
	t.Helper()
	cfg := simulate.Defaults()
	cfg.Seed = 11
	cfg.Orgs = 1
	cfg.ClassesPerSchool = 2
	cfg.PupilsPerClass = 14
	gen, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	kinds := map[event.Kind]int{}
	if err := gen.Run(context.Background(), func(e *event.Event) error {
		kinds[e.Kind]++
		b, err := event.Marshal(e)
		buf.Write(b)
		buf.WriteByte('\n')
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, l := range badLines {
		buf.WriteString(l + "\n")
	}
	path := filepath.Join(dir, "day.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, kinds, gen
}

func startTestInfra(t *testing.T, dataDir string) *Infra {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in, err := StartInfra(ctx, InfraConfig{DataDir: dataDir, Logger: watchNATS(t, testLogger(t))})
	if err != nil {
		t.Fatalf("start infra: %v", err)
	}
	return in
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

func runToCompletion(t *testing.T, in *Infra, console io.Writer, sources ...ingest.Source) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := RunPipeline(ctx, in, PipelineConfig{Sources: sources, Console: console, ExitWhenDone: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("pipeline did not finish in time")
	}
}

func count(t *testing.T, in *Infra, query string) uint64 {
	t.Helper()
	var n uint64
	if err := in.History.Conn().QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestPipelineEndToEnd pushes a simulated day through the real path (file → ingest → embedded
// JetStream → detector → embedded ClickHouse engine via clickhouse-go → alerts → notifier →
// incidents), ingesting the same file twice, and then once more after a restart.
func TestPipelineEndToEnd(t *testing.T) {
	dir := t.TempDir()
	path, kinds, gen := writeSimulation(t, dir)
	dataDir := filepath.Join(dir, "data")

	in := startTestInfra(t, dataDir)
	var console bytes.Buffer
	src := func() ingest.Source { return fileSource(t, path) }
	runToCompletion(t, in, &console, src(), src())

	// Every valid event is in history exactly once, though the file was ingested twice.
	tables := map[event.Kind]string{event.KindAuth: "auth_events", event.KindAccess: "access_events", event.KindDirectory: "directory_events"}
	checkExactlyOnce := func(when string) {
		t.Helper()
		for k, table := range tables {
			rows := count(t, in, "SELECT count() FROM "+table) // no FINAL: not even a transient duplicate
			ids := count(t, in, "SELECT uniqExact(id) FROM "+table)
			if rows != uint64(kinds[k]) || ids != uint64(kinds[k]) {
				t.Errorf("%s: %s has %d rows, %d distinct ids; want %d", when, table, rows, ids, kinds[k])
			}
		}
	}
	checkExactlyOnce("after ingesting the file twice")

	// Every bad line is a dead letter with its reason, once.
	ctx := context.Background()
	dlq, err := in.JS.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	info, err := dlq.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(len(badLines)) {
		t.Errorf("dead letters = %d, want %d", info.State.Msgs, len(badLines))
	}
	msg, err := dlq.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if reason := msg.Header.Get(bus.HeaderReason); !strings.Contains(reason, "not a JSON object") || string(msg.Data) != badLines[0] {
		t.Errorf("first dead letter: reason %q, data %q", reason, msg.Data)
	}

	// Each injected breach fired its rule and opened exactly one incident for its account.
	store, err := notify.NewStore(context.Background(), in.JS)
	if err != nil {
		t.Fatal(err)
	}
	breaches := gen.Breaches()
	if len(breaches) < 5 {
		t.Fatalf("simulator injected %d breaches, want 5", len(breaches))
	}
	for _, b := range breaches {
		if n := count(t, in, fmt.Sprintf("SELECT count() FROM alerts FINAL WHERE account = '%s'", b.Account)); n == 0 {
			t.Errorf("%s: no alert for %s", b.Scenario, b.Account)
		}
		inc, err := store.OpenFor(ctx, b.Org, b.Account)
		if err != nil {
			t.Errorf("%s: no open incident for %s: %v", b.Scenario, b.Account, err)
			continue
		}
		if !inc.Deadline.Equal(inc.Aware.Add(72 * time.Hour)) {
			t.Errorf("%s: deadline %v is not awareness %v + 72h", inc.ID, inc.Deadline, inc.Aware)
		}
		if n := count(t, in, fmt.Sprintf("SELECT count() FROM incidents FINAL WHERE id = '%s'", inc.ID)); n != 1 {
			t.Errorf("%s: %d mirrored rows in history, want 1", inc.ID, n)
		}
		if !strings.Contains(console.String(), inc.ID+" opened") {
			t.Errorf("%s was not printed as opened:\n%s", inc.ID, console.String())
		}
	}
	all, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(breaches) {
		for _, i := range all {
			t.Logf("incident %s %s %s %v", i.ID, i.Account, i.Summary, i.Rules)
		}
		t.Errorf("%d incidents, want exactly one per injected breach (%d): false positives on legitimate activity", len(all), len(breaches))
	}
	alerts := count(t, in, "SELECT count() FROM alerts FINAL")

	// Restart on the same data: ingesting the file a third time changes nothing, and the
	// directory is rebuilt from history: one new access by the blocked guardian, whose
	// blocking is only known from the stored directory events, still alerts.
	var guardian simulate.Breach
	for _, b := range breaches {
		if b.Scenario == simulate.ScenarioBlockedGuardian {
			guardian = b
		}
	}
	before, err := store.OpenFor(ctx, guardian.Org, guardian.Account)
	if err != nil {
		t.Fatal(err)
	}
	late := fmt.Sprintf(`{"kind":"access","id":"late-1","time":"2026-11-03T19:00:00+01:00","org":%q,"actor":%q,"actor_role":"guardian","action":"view","subject":%q,"resource":"absence","service":"https://sas.example.no/saml"}`,
		guardian.Org, guardian.Account, guardian.Subjects[0])
	in.Close()
	latePath := filepath.Join(dir, "late.jsonl")
	if err := os.WriteFile(latePath, []byte(late+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	in = startTestInfra(t, dataDir)
	defer in.Close()
	runToCompletion(t, in, io.Discard, src(), fileSource(t, latePath))
	kinds[event.KindAccess]++
	checkExactlyOnce("after a restart and a third ingestion")
	if n := count(t, in, "SELECT count() FROM alerts FINAL"); n != alerts+1 {
		t.Errorf("alerts after restart = %d, want %d (the late access must alert)", n, alerts+1)
	}
	after, err := store2(t, in).OpenFor(ctx, guardian.Org, guardian.Account)
	if err != nil {
		t.Fatal(err)
	}
	if after.ID != before.ID || after.AlertCount != before.AlertCount+1 {
		t.Errorf("guardian incident after restart: %s with %d alerts, want %s with %d", after.ID, after.AlertCount, before.ID, before.AlertCount+1)
	}
	if all2, err := store2(t, in).List(ctx); err != nil || len(all2) != len(all) {
		t.Errorf("incidents after restart = %d (%v), want %d", len(all2), err, len(all))
	}
}

func store2(t *testing.T, in *Infra) *notify.Store {
	t.Helper()
	s, err := notify.NewStore(context.Background(), in.JS)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStageNames: stage names are trimmed, and a misspelt one is refused before anything runs
// (it would leave a process running none of the stages it was meant to).
func TestStageNames(t *testing.T) {
	err := RunPipeline(context.Background(), nil, PipelineConfig{Stages: []string{"detect", " notfy"}, Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), `unknown stage " notfy"`) {
		t.Fatalf("misspelt stage: %v", err)
	}
	cfg := PipelineConfig{Stages: []string{" ingest", "notify "}}
	if err := cfg.checkStages(); err != nil || !cfg.runs(StageIngest) || !cfg.runs(StageNotify) || cfg.runs(StageDetect) {
		t.Fatalf("trimmed stages %q: %v", cfg.Stages, err)
	}
}
