package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchJSON runs a small bench of every phase on the embedded engines, as a user would,
// and reads its JSON. bench/bench_test.go checks the numbers in detail.
func TestBenchJSON(t *testing.T) {
	out, errs, code := breachd(t, nil, "bench", "--json", "--orgs", "1", "--days", "1", "--events", "2000",
		"--rate", "1000", "--duration", "2s", "--probes", "4")
	if code != 0 {
		t.Fatalf("bench: exit %d\n%s", code, errs)
	}
	var rep struct {
		Workload struct{ Events int }
		Raw      struct{ Events int }
		Pipeline struct {
			Events       int
			RatioToRaw   float64 `json:"ratio_to_raw"`
			CPUPerEvent  float64 `json:"cpu_us_per_event"`
			PeakRSSBytes int64   `json:"peak_rss_bytes"`
		}
		Latency struct {
			Events   int
			Incident struct {
				Samples int
				P50     float64 `json:"p50_ms"`
				P99     float64 `json:"p99_ms"`
				Max     float64 `json:"max_ms"`
			} `json:"ingest_to_incident"`
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bench --json printed no JSON: %v\n%s", err, out)
	}
	if rep.Workload.Events != 2000 || rep.Raw.Events != 2000 || rep.Pipeline.Events != 2000 {
		t.Errorf("events: workload %d, raw %d, pipeline %d; want 2000 each", rep.Workload.Events, rep.Raw.Events, rep.Pipeline.Events)
	}
	if rep.Pipeline.RatioToRaw <= 0 || rep.Pipeline.CPUPerEvent <= 0 || rep.Pipeline.PeakRSSBytes <= 0 {
		t.Errorf("pipeline: %+v, want a ratio, CPU per event and a peak RSS", rep.Pipeline)
	}
	if inc := rep.Latency.Incident; rep.Latency.Events < 2000 || inc.Samples == 0 || inc.P50 > inc.P99 || inc.P99 > inc.Max {
		t.Errorf("latency: %+v", rep.Latency)
	}
	if !strings.Contains(errs, "bench: pipeline") {
		t.Errorf("no progress on stderr:\n%s", errs)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--phases", "raw,warp"}, `--phases: unknown phase "warp"`},
		{[]string{"--rate", "0"}, "--rate: 0 events/s"},
		{[]string{"--duration", "10ms"}, "--duration"},
		{[]string{"--probes", "-1"}, "--probes"},
		{[]string{"--events", "-5"}, "--events"},
		{[]string{"--no-such-flag"}, "unknown flag"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"--log-level", "loud"}, "--log-level"},
	} {
		_, errs, code := breachd(t, nil, append([]string{"bench"}, c.args...)...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("breachd bench %v: exit %d, stderr %q; want exit 2 with %q", c.args, code, errs, c.want)
		}
	}
	out, _, code := breachd(t, nil, "bench", "--help")
	for _, want := range []string{"ratio to raw", "CPU µs/event", "dedicated test", "--rate"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("bench --help: exit %d, lacks %q", code, want)
		}
	}
}
