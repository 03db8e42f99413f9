package deploy

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/ingest"
	"breachd/ingest/file"
	"breachd/simulate"
)

// canonicalLines are a valid event, one without an id (its id is derived from its content)
// and a record that is no event.
var canonicalLines = []string{
	`{"kind":"auth","id":"src-1","time":"2026-11-02T08:01:13Z","org":"o.no","user":"ola@o.no","service":"https://lms","result":"success"}`,
	`{"kind":"auth","time":"2026-11-02T08:01:14Z","org":"o.no","user":"kari@o.no","service":"https://lms","result":"success"}`,
	`{"kind":"auth","id":"src-3","time":"noon","org":"o.no","user":"per@o.no","service":"https://lms","result":"success"}`,
}

// stored returns the events (Nats-Msg-Id and data) and the dead letters' reasons of s.
func stored(t *testing.T, s *bustest.Server) (events, reasons []string) {
	t.Helper()
	for _, m := range s.Messages(t, bus.StreamEvents) {
		events = append(events, m.Header.Get(bus.HeaderMsgID)+" "+string(m.Data))
	}
	for _, m := range s.Messages(t, bus.StreamDLQ) {
		reasons = append(reasons, m.Header.Get(bus.HeaderReason))
	}
	return events, reasons
}

func writeLines(t *testing.T, lines []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fileSource is the source `breachd run paths...` reads.
func fileSource(t *testing.T, paths ...string) ingest.Source {
	t.Helper()
	in, err := OpenSources(SourceConfig{Files: paths}, nil, testLogger(t), nil)
	if err != nil || len(in.Sources) != 1 {
		t.Fatalf("OpenSources: %v", err)
	}
	return in.Sources[0]
}

func sourcesCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// The sources `breachd run` builds (OpenSources: a file and the HTTP endpoint, canonical JSON)
// and a file source built as the tests build it (no format given) store the same events and
// dead letters through ingest.NewPipeline: one canonical parser, which derives the id of an
// event that has none.
func TestOpenSourcesReadCanonicalLikeTheTests(t *testing.T) {
	ctx := sourcesCtx(t)
	path := writeLines(t, canonicalLines)

	// As the tests wire it.
	ts := bustest.Start(t)
	if err := file.New([]string{path}, file.Options{Logger: testLogger(t)}).
		Run(ctx, newPipeline(t, ts, nil)); err != nil {
		t.Fatal(err)
	}
	wantEvents, wantReasons := stored(t, ts)
	if len(wantEvents) != 2 || !strings.HasPrefix(wantEvents[1], "c-") || len(wantReasons) != 1 {
		t.Fatalf("events %q, dead letters %q; want 2 events (the second with a derived id c-…) and 1 dead letter", wantEvents, wantReasons)
	}

	// As `breachd run --format canonical FILE` wires it.
	for _, fmtName := range []string{"", "canonical"} {
		ps := bustest.Start(t)
		in, err := OpenSources(SourceConfig{Files: []string{path}, InputFormat: fmtName}, ps.NC, testLogger(t), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		if len(in.Sources) != 1 {
			t.Fatalf("%d sources, want the file", len(in.Sources))
		}
		if err := in.Sources[0].Run(ctx, newPipeline(t, ps, nil)); err != nil {
			t.Fatal(err)
		}
		in.Close()
		if events, reasons := stored(t, ps); strings.Join(events, "\n") != strings.Join(wantEvents, "\n") ||
			strings.Join(reasons, "\n") != strings.Join(wantReasons, "\n") {
			t.Errorf("format %q: OpenSources stored %q and %q, the test-built source %q and %q", fmtName, events, reasons, wantEvents, wantReasons)
		}
	}

	// As `breachd run --http-listen` wires it.
	hs := bustest.Start(t)
	console := make(lineWriter, 1)
	in, err := OpenSources(SourceConfig{HTTP: HTTPSourceConfig{Listen: "127.0.0.1:0", Insecure: true, BodyTimeout: time.Minute, MinBodyRate: 1},
		Console: console}, hs.NC, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- in.Sources[0].Run(sctx, newPipeline(t, hs, nil))
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var url string
	select {
	case l := <-console: // "  HTTP ingest      POST http://127.0.0.1:port/v1/events"
		url = strings.Fields(l)[len(strings.Fields(l))-1]
	case err := <-done:
		t.Fatalf("HTTP source stopped: %v", err)
	}
	res, err := http.Post(url, "application/x-ndjson", strings.NewReader(strings.Join(canonicalLines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if events, reasons := stored(t, hs); res.StatusCode != http.StatusOK || strings.Join(events, "\n") != strings.Join(wantEvents, "\n") ||
		strings.Join(reasons, "\n") != strings.Join(wantReasons, "\n") {
		t.Errorf("HTTP: %s, stored %q and %q; the test-built file source %q and %q", res.Status, events, reasons, wantEvents, wantReasons)
	}
}

// lineWriter passes each write on.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) { w <- string(p); return len(p), nil }

// Files (and followed files) read with the configured format, Kafka with its own.
func TestOpenSourcesFormats(t *testing.T) {
	ctx := sourcesCtx(t)
	const sample = "../ingest/format/testdata/simplesamlphp/idp-rsyslog-rfc3339.log"
	raw, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	login := bytes.SplitN(raw, []byte("\n"), 2)[0] // the sample's one login
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "idp"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	w := &kafkago.Writer{Addr: kafkago.TCP(cluster.ListenAddrs()...), Topic: "idp", RequiredAcks: kafkago.RequireAll}
	if err := w.WriteMessages(ctx, kafkago.Message{Value: login}); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()

	s := bustest.Start(t)
	in, err := OpenSources(SourceConfig{Files: []string{sample}, InputFormat: "simplesamlphp", DataDir: t.TempDir(),
		Follow: []string{filepath.Join(t.TempDir(), "later.log")},
		Kafka: KafkaSourceConfig{Brokers: strings.Join(cluster.ListenAddrs(), ", "), Topics: "idp", Group: "breachd",
			StartOffset: "first", Format: "simplesamlphp"}}, s.NC, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if len(in.Sources) != 3 {
		t.Fatalf("%d sources, want the file, the followed file and Kafka", len(in.Sources))
	}
	reg := prometheus.NewRegistry()
	p := newPipeline(t, s, reg)
	if err := in.Sources[0].Run(ctx, p); err != nil {
		t.Fatal(err)
	}
	// The sample: a login, a line that is no event (skipped), a line with a bad date.
	if n, d := s.Count(t, bus.StreamEvents), s.Count(t, bus.StreamDLQ); n != 1 || d != 1 {
		t.Fatalf("the SimpleSAMLphp sample stored %d events and %d dead letters, want 1 and 1", n, d)
	}
	// Kafka delivers the same login again: read as SimpleSAMLphp, it is the same event.
	kctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- in.Sources[2].Run(kctx, p) }()
	for handled(t, reg, "kafka") == 0 {
		select {
		case err := <-done:
			t.Fatalf("Kafka source stopped: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, d := s.Count(t, bus.StreamEvents), s.Count(t, bus.StreamDLQ); n != 1 || d != 1 {
		t.Errorf("after Kafka: %d events and %d dead letters, want the login once and no new dead letter", n, d)
	}
}

// handled returns how many records of source the pipeline counted as accepted or rejected.
func handled(t *testing.T, reg *prometheus.Registry, source string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, f := range families {
		if f.GetName() != "breach_ingest_events_accepted_total" && f.GetName() != "breach_ingest_events_rejected_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == source {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

func TestSourceConfigValidate(t *testing.T) {
	demo := simulate.Defaults()
	bad := simulate.Defaults()
	bad.Orgs = -1
	for _, c := range []struct {
		cfg  SourceConfig
		want string
	}{
		{SourceConfig{Demo: &demo, Files: []string{"x.jsonl"}}, "--demo and input files exclude each other"},
		{SourceConfig{Demo: &bad}, "simulator: "},
		{SourceConfig{Mapping: "m.yaml", InputFormat: "ecs"}, "--mapping and --input-format exclude each other"},
		{SourceConfig{InputFormat: "syslog"}, `--input-format: unknown log format "syslog"`},
		{SourceConfig{Kafka: KafkaSourceConfig{Format: "nope"}}, `--kafka-format: unknown log format "nope"`},
		{SourceConfig{HTTP: HTTPSourceConfig{Listen: ":0", BodyTimeout: time.Minute}}, "--http-min-body-rate non-zero"},
		{SourceConfig{Demo: &demo}, ""},
		{SourceConfig{Mapping: "m.yaml", InputFormat: "canonical", Files: []string{"-"}}, ""},
	} {
		err := c.cfg.Validate()
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

// newPipeline is the ingest pipeline RunPipeline builds, on s.
func newPipeline(t *testing.T, s *bustest.Server, reg prometheus.Registerer) *ingest.Pipeline {
	t.Helper()
	p, err := ingest.NewPipeline(bus.NewPublisher(s.JS), s.Layout(t), testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
