package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"breachd/bus/bustest"
	"breachd/deploy"
	"breachd/event"
	"breachd/ingest"
	"breachd/simulate"
)

// TestRunAllPhases runs every phase on a small workload against a real JetStream (an embedded
// server given as an external one, so that the test can look at its streams afterwards) and
// the embedded ClickHouse engine. It asserts what the numbers must satisfy, never timings.
// Run with setsid (the engine can signal the process group).
func TestRunAllPhases(t *testing.T) {
	s := bustest.StartServer(t)
	sim := simulate.Defaults()
	sim.Orgs, sim.Days = 1, 1
	var prog bytes.Buffer
	cfg := Config{Infra: deploy.InfraConfig{DataDir: t.TempDir(), NATSURL: s.Embedded.ClientURL(), Logger: testLogger()},
		Sim: sim, MaxEvents: 3000, Rate: 1000, Duration: 3 * time.Second, Probes: 4,
		WorkDir: t.TempDir(), Progress: &prog, Logger: testLogger(), Version: "test"}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("bench: %v\nprogress:\n%s", err, prog.String())
	}

	// The JSON carries the documented names.
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	phases := map[string]map[string]any{}
	for _, phase := range Phases {
		var m map[string]any
		if err := json.Unmarshal(doc[phase], &m); err != nil {
			t.Fatalf("JSON %s: %v: %s", phase, err, b)
		}
		phases[phase] = m
	}
	for phase, keys := range map[string][]string{
		"raw":      {"events", "events_per_second", "cpu_us_per_event", "peak_rss_bytes", "stream_deleted"},
		"pipeline": {"events", "events_per_second", "ratio_to_raw", "cpu_us_per_event", "peak_rss_bytes", "peak_rss_scope"},
		"latency": {"offered_events_per_second", "achieved_events_per_second", "seed", "handoff_late_max_ms", "lag_events", "kept_up",
			"ingest_to_alert", "ingest_to_incident", "probe_alerts", "probe_incidents"},
	} {
		for _, k := range keys {
			if _, ok := phases[phase][k]; !ok {
				t.Errorf("JSON %s has no %q: %s", phase, k, b)
			}
		}
	}

	wl := rep.Workload.Events
	if wl != cfg.MaxEvents {
		t.Errorf("workload: %d events, want the cap %d", wl, cfg.MaxEvents)
	}
	if rep.Raw == nil || rep.Raw.Events != wl || rep.Raw.EventsPerSecond <= 0 || !rep.Raw.StreamDeleted {
		t.Errorf("raw: %+v, want %d events, a rate and the stream deleted", rep.Raw, wl)
	}
	if p := rep.Pipeline; p == nil || p.Events != wl || p.DeadLettered != 0 || p.Duplicates != 0 || p.EventsPerSecond <= 0 ||
		p.RatioToRaw <= 0 || p.CPUMicrosPerEvent <= 0 || p.PeakRSSBytes <= 0 {
		t.Errorf("pipeline: %+v, want all %d events through, a rate, a ratio, CPU and RSS", p, wl)
	}
	if p := rep.Pipeline; p.Alerts == 0 || p.Incidents == 0 || p.Incidents > p.Alerts {
		t.Errorf("pipeline: %d alerts, %d incidents; want the workload's breaches detected", p.Alerts, p.Incidents)
	}
	l := rep.Latency
	if l == nil {
		t.Fatal("no latency result")
	}
	if want := cfg.Rate * int(cfg.Duration.Seconds()); l.Events < want || l.Probes < 1 {
		t.Errorf("latency: %d events with %d probes, want at least %d with probes", l.Events, l.Probes, want)
	}
	if l.ProbeAlerts != l.Probes || l.ProbeIncidents != l.Probes || l.Incident.Samples < l.Probes {
		t.Errorf("latency: %d probes, %d with an alert, %d with an incident on their own events, %d incident samples; want every probe alerted and opening an incident",
			l.Probes, l.ProbeAlerts, l.ProbeIncidents, l.Incident.Samples)
	}
	if l.Seed != rep.Workload.Seed+1 {
		t.Errorf("latency feed seed %d, want the workload's %d plus one", l.Seed, rep.Workload.Seed)
	}
	for name, p := range map[string]Percentiles{"alert": l.Alert, "incident": l.Incident} {
		if p.Samples == 0 || p.P50 > p.P95 || p.P95 > p.P99 || p.P99 > p.Max {
			t.Errorf("ingest → %s: %+v, want samples and p50 ≤ p95 ≤ p99 ≤ max", name, p)
		}
	}

	// The scratch stream is gone; the pipeline's streams are there.
	names := s.JS.StreamNames(ctx)
	var streams []string
	for n := range names.Name() {
		streams = append(streams, n)
	}
	if names.Err() != nil {
		t.Fatal(names.Err())
	}
	for _, n := range streams {
		if strings.HasPrefix(n, ScratchPrefix) {
			t.Errorf("scratch stream %s is left behind (streams: %v)", n, streams)
		}
	}
	if !strings.HasPrefix(rep.Raw.Stream, ScratchPrefix) || len(streams) < 4 {
		t.Errorf("raw phase's stream %q, streams afterwards %v", rep.Raw.Stream, streams)
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"raw JetStream", "pipeline", "ingest → incident"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if !strings.Contains(prog.String(), "bench: latency") {
		t.Errorf("progress lacks the latency phase:\n%s", prog.String())
	}
}

func TestValidate(t *testing.T) {
	good := Config{Sim: simulate.Defaults(), Rate: 1000, Duration: 5 * time.Second, Probes: 2}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, c := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.Phases = []string{"raw", "warp"} }, `--phases: unknown phase "warp"`},
		{func(c *Config) { c.Rate = 0 }, "--rate"},
		{func(c *Config) { c.Duration = time.Millisecond }, "--duration"},
		{func(c *Config) { c.Probes = 100 }, "--probes"},
		{func(c *Config) { c.MaxEvents = -1 }, "--events"},
		{func(c *Config) { c.Sim.Orgs = -1 }, "--orgs"},
	} {
		cfg := good
		c.change(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate() = %v, want an error with %q", err, c.want)
		}
	}
	// Every bad flag is reported, not only the first.
	bad := good
	bad.MaxEvents, bad.Rate, bad.Duration, bad.Probes = -1, 0, 0, -1
	err := bad.Validate()
	for _, want := range []string{"--events", "--rate", "--duration", "--probes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want an error with %q", err, want)
		}
	}
}

// TestRawRefusesEmpty: an empty workload is an error, not a wait for messages that never come.
func TestRawRefusesEmpty(t *testing.T) {
	if _, err := runRaw(context.Background(), nil, nil, ScratchPrefix+"EMPTY", 1, nil, newProgress(nil)); err == nil {
		t.Error("runRaw with no payloads: no error")
	}
}

// TestTimeline: the latency feed is another world (seed) dated after the pipeline workload,
// whose days keep their weekdays.
func TestTimeline(t *testing.T) {
	sim := simulate.Defaults()
	sim.Days = 5
	for _, now := range []time.Time{time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC), time.Date(2026, 12, 9, 10, 0, 0, 0, time.UTC)} {
		for _, rate := range []int{1000, 10000, 50000} {
			pipe, lat := timeline(sim, rate, 30*time.Second, now)
			if lat.Seed != sim.Seed+1 || pipe.Seed != sim.Seed || pipe.Days != sim.Days {
				t.Errorf("seeds %d, %d and days %d from %+v", pipe.Seed, lat.Seed, pipe.Days, sim)
			}
			pipeEnd := pipe.Start.AddDate(0, 0, pipe.Days) // midnight after the last day
			snapshot := lat.Start.Add(-2 * time.Hour)      // 22:00 the evening before
			latEnd := lat.Start.AddDate(0, 0, lat.Days-1)  // the last day
			if !pipeEnd.Before(snapshot) || !latEnd.Equal(simulate.LastSchoolDay(now)) {
				t.Errorf("now %s, rate %d: pipeline %s + %d days, latency %s + %d days", now, rate, pipe.Start, pipe.Days, lat.Start, lat.Days)
			}
			if last := pipeEnd.AddDate(0, 0, -1); last.Weekday() != latEnd.Weekday() {
				t.Errorf("now %s: the pipeline workload ends on a %s, want a %s", now, last.Weekday(), latEnd.Weekday())
			}
		}
	}
}

func TestPercentiles(t *testing.T) {
	var samples []time.Duration
	for i := 100; i >= 1; i-- {
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	got := percentiles(samples)
	want := Percentiles{Samples: 100, P50: 50, P95: 95, P99: 99, Max: 100}
	if got != want {
		t.Errorf("percentiles of 1..100 ms = %+v, want %+v", got, want)
	}
	if got := percentiles([]time.Duration{7 * time.Millisecond}); got != (Percentiles{Samples: 1, P50: 7, P95: 7, P99: 7, Max: 7}) {
		t.Errorf("one sample: %+v", got)
	}
	if got := percentiles(nil); got != (Percentiles{}) {
		t.Errorf("no samples: %+v", got)
	}
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

// TestFeed builds a latency feed and checks what the phase relies on: the size, the probes
// among the events, every record a canonical event, and each event's id leading to its batch.
func TestFeed(t *testing.T) {
	_, sim := timeline(simulate.Defaults(), 500, 4*time.Second, time.Now())
	f, err := buildFeed(context.Background(), sim, "t1", 500, 4*time.Second, 2, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if f.events() != 2000 || f.batch != 5 || f.batches() != 400 {
		t.Fatalf("feed: %d events in %d batches of %d, want 2000 in 400 of 5", f.events(), f.batches(), f.batch)
	}
	if f.probes < 7 || f.probes > 8 {
		t.Errorf("%d probes in 4 s at 2/s", f.probes)
	}
	kinds, probes := map[event.Kind]int{}, map[int]bool{}
	var recs []ingest.Record
	for k := range f.batches() {
		recs = f.records(k, recs)
		for _, r := range recs {
			e, err := event.Parse(r.Data)
			if err != nil {
				t.Fatalf("batch %d: %v: %s", k, err, r.Data)
			}
			if b, ok := f.batchOf(e.ID); !ok || b != k {
				t.Fatalf("event %s is in batch %d, batchOf says %d, %v", e.ID, k, b, ok)
			}
			if k, ok := f.probeOf(e.ID); ok {
				kinds[e.Kind]++
				probes[k] = true
			} else if strings.Contains(e.ID, "probe") {
				t.Fatalf("probeOf(%q) found no probe", e.ID)
			}
		}
	}
	if kinds[event.KindAccess] == 0 || kinds[event.KindAuth] == 0 || len(probes) != f.probes {
		t.Errorf("probe events by kind: %v, of %d probes; want both probe kinds, of all %d", kinds, len(probes), f.probes)
	}
	for _, id := range []string{"other-l-3-x", "t1-l-", "t1-l-x-1", "t1-l-999999-x"} {
		if _, ok := f.batchOf(id); ok {
			t.Errorf("batchOf(%q) found a batch", id)
		}
	}
}
