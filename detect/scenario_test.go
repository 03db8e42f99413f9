package detect_test

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"breachd/bus/bustest"
	"breachd/deploy"
	"breachd/detect"
	"breachd/simulate"
)

// accountsByTag returns, per `scenario:<name>` tag, the accounts of the alerts in history
// carrying it, and the set of all accounts with an alert.
func accountsByTag(t *testing.T, in *deploy.Infra) (map[string][]string, []string) {
	t.Helper()
	rows, err := in.History.Conn().Query(context.Background(),
		`SELECT DISTINCT account, tag FROM alerts FINAL LEFT ARRAY JOIN tags AS tag ORDER BY account, tag`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	byTag := map[string][]string{}
	all := map[string]bool{}
	for rows.Next() {
		var account, tag string
		if err := rows.Scan(&account, &tag); err != nil {
			t.Fatal(err)
		}
		all[account] = true
		if name, ok := strings.CutPrefix(tag, "scenario:"); ok {
			byTag[name] = append(byTag[name], account)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return byTag, slices.Sorted(maps.Keys(all))
}

// TestSimulatedBreachesExactly runs a simulated school day with the five injected breaches
// and the legitimate edge cases through the detector with the default pack: the accounts with
// alerts are exactly the breach accounts (no false positive, no miss), and each breach is
// caught by a rule tagged with its scenario, and only its own.
func TestSimulatedBreachesExactly(t *testing.T) {
	cfg := simulate.Defaults()
	cfg.Orgs = 1
	gen, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	breaches := gen.Breaches()
	if len(breaches) != 5 {
		t.Fatalf("simulator injected %d breaches, want 5", len(breaches))
	}
	in := startInfra(t)
	evs := generate(t, cfg)
	publish(t, in.JS, evs)
	stop := run(t, newDetector(t, in, in.History, detect.Options{}))
	waitIdle(t, in.JS)
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if n := eventRows(t, in, true); n != uint64(len(evs)) {
		t.Errorf("events in history = %d, want %d", n, len(evs))
	}

	wantByTag := map[string][]string{}
	var wantAll []string
	for _, b := range breaches {
		wantByTag[b.Scenario] = append(wantByTag[b.Scenario], b.Account)
		wantAll = append(wantAll, b.Account)
	}
	for s := range wantByTag {
		slices.Sort(wantByTag[s])
	}
	slices.Sort(wantAll)
	wantAll = slices.Compact(wantAll)

	byTag, all := accountsByTag(t, in)
	if !slices.Equal(all, wantAll) {
		edges := map[string]string{}
		for _, e := range gen.EdgeCases() {
			edges[e.Account] = e.Case
		}
		for _, a := range all {
			if !slices.Contains(wantAll, a) {
				t.Errorf("false positive: alert for %s (edge case %q)", a, edges[a])
			}
		}
		for _, a := range wantAll {
			if !slices.Contains(all, a) {
				t.Errorf("missed breach: no alert for %s", a)
			}
		}
	}
	for _, b := range breaches {
		if !slices.Contains(byTag[b.Scenario], b.Account) {
			t.Errorf("%s: no alert tagged scenario:%s for %s", b.Scenario, b.Scenario, b.Account)
		}
	}
	for tag, accounts := range byTag {
		if !slices.Equal(accounts, wantByTag[tag]) {
			t.Errorf("alerts tagged scenario:%s are for %v, want the breach accounts %v", tag, accounts, wantByTag[tag])
		}
	}
	if inHistory, onStream := count(t, in, "SELECT count() FROM alerts FINAL"), len(streamAlerts(t, in.JS)); inHistory != uint64(onStream) {
		t.Errorf("%d alerts in history, %d on ALERTS: want the same", inHistory, onStream)
	}
}

// BenchmarkDetectorEndToEnd times the detector draining a pre-published simulated stream:
// decode, directory, the default rules, batch writes of events and alerts to the embedded
// ClickHouse engine through clickhouse-go, alerts published with PubAcks, acks. Each iteration
// is one full drain on fresh infrastructure; starting it and publishing are not timed.
//
//	go test -run '^$' -bench DetectorEndToEnd -benchtime 3x ./detect/
func BenchmarkDetectorEndToEnd(b *testing.B) {
	cfg := simulate.Defaults()
	cfg.Orgs, cfg.Days = 2, 2
	evs := generate(b, cfg)
	for _, batch := range []int{1000, 4000, 20000} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			b.StopTimer()
			var cpu time.Duration // of the whole process: detector, NATS server, ClickHouse engine
			for i := 0; i < b.N; i++ {
				in, closeInfra := startBenchInfra(b, i)
				publish(b, in.JS, evs)
				d := newDetector(b, in, in.History, detect.Options{Batch: batch})
				b.StartTimer()
				cpu0 := bustest.CPU(b)
				stop := run(b, d)
				waitIdle(b, in.JS)
				cpu += bustest.CPU(b) - cpu0
				b.StopTimer()
				if err := stop(); err != nil {
					b.Fatal(err)
				}
				if n := eventRows(b, in, true); n != uint64(len(evs)) {
					b.Fatalf("events in history = %d, want %d", n, len(evs))
				}
				closeInfra()
			}
			b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(len(evs)*b.N), "cpu-µs/event")
			b.ReportMetric(float64(batch), "batch")
			b.ReportMetric(float64(len(evs)), "events/op")
		})
	}
}

// startBenchInfra is startInfra with its own directory per iteration; the returned close runs
// once, at the end of the iteration or at cleanup if the benchmark fails before.
func startBenchInfra(b *testing.B, i int) (*deploy.Infra, func()) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in, err := deploy.StartInfra(ctx, deploy.InfraConfig{DataDir: filepath.Join(b.TempDir(), "data"+strconv.Itoa(i)), Logger: testLogger(b)})
	if err != nil {
		b.Fatalf("start infra (needs libchdb.so: run scripts/setup.sh): %v", err)
	}
	closeOnce := sync.OnceFunc(in.Close)
	b.Cleanup(closeOnce)
	return in, closeOnce
}
