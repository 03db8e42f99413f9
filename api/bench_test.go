package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/api"
	"breachd/auth"
	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/event"
	"breachd/history"
	"breachd/notify"
	"breachd/simulate"
)

// The API benchmarks of issue 12: p50/p95 of one account's 30-day login history and of the
// incident list, through the whole server (authentication, authorization, audit, JSON).
//
//	setsid go test ./api/ -run '^$' -bench 'BenchmarkAPI' -benchtime 200x -timeout 0
//
// Environment:
//
//	BREACHD_API_BENCH_EVENTS     events stored in the history (default 200000); 100000000 for the
//	                             issue's 100 M run (about 7 GB on disk and an hour of loading)
//	BREACHD_API_BENCH_DIR        parent of the history's data dir (default a temp dir)
//	BREACHD_API_BENCH_INCIDENTS  incidents in NATS for the list (default 10000)

// benchInt reads a positive whole number from the environment, or def.
func benchInt(b *testing.B, name string, def int64) int64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}

// benchServer serves the API over s and incs with the real sign-in service; it returns the
// handler and the API token of the SOC principal of Bergen.
func benchServer(b *testing.B, js *bustest.Server, store *history.Store, incs *notify.Incidents) (http.Handler, string) {
	svc, tokens := startAuth(b, js)
	srv, err := api.New(api.Config{Auth: svc, Incidents: incs, History: store, JS: js.JS,
		Registry: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return srv.Handler(), tokens[principalName(auth.RoleSOC, bergen)]
}

// timeRequests sends GET path with the API token b.N times and reports p50 and p95 in ms.
func timeRequests(b *testing.B, h http.Handler, path, token string, check func([]byte) error) {
	durs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := newBodyRecorder()
		t0 := time.Now()
		h.ServeHTTP(rec, req)
		durs = append(durs, time.Since(t0))
		if rec.status != http.StatusOK {
			b.Fatalf("%s: %d %s", path, rec.status, rec.body)
		}
		if i == 0 {
			if err := check(rec.body); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	slices.Sort(durs)
	pct := func(p int) float64 { return float64(durs[(len(durs)-1)*p/100].Microseconds()) / 1000 }
	b.ReportMetric(pct(50), "p50-ms")
	b.ReportMetric(pct(95), "p95-ms")
}

// bodyRecorder is a minimal http.ResponseWriter for the benchmarks.
type bodyRecorder struct {
	header http.Header
	status int
	body   []byte
}

func newBodyRecorder() *bodyRecorder         { return &bodyRecorder{header: http.Header{}} }
func (r *bodyRecorder) Header() http.Header  { return r.header }
func (r *bodyRecorder) WriteHeader(code int) { r.status = code }
func (r *bodyRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body = append(r.body, p...)
	return len(p), nil
}

// BenchmarkAPIHistoryLogins: GET /api/history/logins of the busiest account over the last 30
// days of BREACHD_API_BENCH_EVENTS simulated events (each request audited).
func BenchmarkAPIHistoryLogins(b *testing.B) {
	n := benchInt(b, "BREACHD_API_BENCH_EVENTS", 200_000)
	dir := b.TempDir()
	if parent := os.Getenv("BREACHD_API_BENCH_DIR"); parent != "" {
		var err error
		if dir, err = os.MkdirTemp(parent, "breachd-api-bench-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	store := openHistory(b, filepath.Join(dir, "data"))
	ctx := context.Background()
	t0 := time.Now()
	if err := loadSimulated(ctx, store, n); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d events in %s", n, time.Since(t0).Round(time.Second))
	var last time.Time
	var account string
	if err := store.Conn().QueryRow(ctx, "SELECT max(time) FROM auth_events").Scan(&last); err != nil {
		b.Fatal(err)
	}
	from := last.Add(-30 * 24 * time.Hour)
	if err := store.Conn().QueryRow(ctx, `SELECT user FROM auth_events WHERE time >= ? GROUP BY user ORDER BY count() DESC, user LIMIT 1`, from).Scan(&account); err != nil {
		b.Fatal(err)
	}
	js := bustest.Start(b)
	incs, err := notify.NewIncidents(ctx, js.JS, notify.IncidentsOptions{})
	if err != nil {
		b.Fatal(err)
	}
	h, token := benchServer(b, js, store, incs)
	path := "/api/history/logins?account=" + url.QueryEscape(account) + "&from=" + from.Format(time.RFC3339Nano) +
		"&to=" + last.Add(time.Millisecond).Format(time.RFC3339Nano) + "&reason=benchmark"
	b.Run("30d", func(b *testing.B) { // a sub-benchmark, so the load above runs once
		timeRequests(b, h, path, token, func(body []byte) error {
			var rows api.Rows
			if err := json.Unmarshal(body, &rows); err != nil || rows.Total == 0 {
				return fmt.Errorf("logins of %s: %d rows, %v", account, rows.Total, err)
			}
			return nil
		})
	})
}

// BenchmarkAPIIncidents: GET /api/incidents?all=true (the first page, total counted) with
// BREACHD_API_BENCH_INCIDENTS incidents, opened by a real notifier.
func BenchmarkAPIIncidents(b *testing.B) {
	n := benchInt(b, "BREACHD_API_BENCH_INCIDENTS", 10_000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	js := bustest.Start(b)
	store := openHistory(b, filepath.Join(b.TempDir(), "data"))
	incs, err := notify.NewIncidents(ctx, js.JS, notify.IncidentsOptions{})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if err := openMany(ctx, js, incs, int(n)); err != nil {
		b.Fatal(err)
	}
	b.Logf("opened %d incidents in %s", n, time.Since(t0).Round(time.Second))
	h, token := benchServer(b, js, store, incs)
	b.Run("all", func(b *testing.B) { // a sub-benchmark, so the incidents above are opened once
		timeRequests(b, h, "/api/incidents?all=true", token, func(body []byte) error {
			var rows api.Rows
			if err := json.Unmarshal(body, &rows); err != nil || rows.Total != int(n) {
				return fmt.Errorf("list: total %d, want %d (%v)", rows.Total, n, err)
			}
			return nil
		})
	})
}

// openMany opens n incidents (one alert per account, half in each organisation) through a real
// notifier, and waits until they are all stored.
func openMany(ctx context.Context, js *bustest.Server, incs *notify.Incidents, n int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nf, err := notify.New(js.JS, notify.Options{Incidents: incs, Logger: slog.New(slog.DiscardHandler), Batch: 256})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- nf.Run(ctx) }()
	now := time.Now().UTC()
	for i := range n {
		org := []string{bergen, oslo}[i%2]
		a := &event.Alert{ID: fmt.Sprintf("b-%d", i), RuleID: "bulk-export", Title: "bulk export", Severity: event.SeverityHigh,
			Org: org, Account: fmt.Sprintf("user%d@%s", i, org), EventID: fmt.Sprintf("e-%d", i), EventKind: event.KindAccess,
			EventTime: now.Add(-time.Hour), Detected: now, Summary: "bulk export"}
		data, err := json.Marshal(a)
		if err != nil {
			return err
		}
		msg := &nats.Msg{Subject: bus.AlertSubject(a.Severity), Data: data, Header: nats.Header{bus.HeaderMsgID: {a.ID}}}
		if _, err := js.JS.PublishMsgAsync(msg); err != nil {
			return err
		}
	}
	select {
	case <-js.JS.PublishAsyncComplete():
	case <-time.After(time.Minute):
		return errors.New("alerts not acknowledged within a minute")
	}
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(time.Second) {
		list, err := incs.List(ctx)
		if err != nil {
			return err
		}
		if len(list) >= n {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the notifier opened %d of %d incidents in 10 minutes", len(list), n)
		}
	}
	cancel()
	return <-done
}

// loadSimulated stores the first n events of a simulated world sized for n (breachd/simulate,
// as history's load test does) in batches of 100 000.
func loadSimulated(ctx context.Context, s *history.Store, n int64) error {
	cfg := simulate.Config{Seed: 1, Orgs: 1, Days: 365}
	for want := n + n/20; cfg.Orgs < simulate.MaxOrgs && simulate.EstimateEvents(cfg).Total < want; {
		cfg.Orgs++
	}
	for cfg.Days > 31 {
		c := cfg
		c.Days--
		if simulate.EstimateEvents(c).Total < n+n/20 {
			break
		}
		cfg = c
	}
	g, err := simulate.New(cfg)
	if err != nil {
		return err
	}
	const batch = 100_000
	buf := make([]*event.Event, 0, batch)
	var count int64
	errEnough := errors.New("enough")
	err = g.Run(ctx, func(e *event.Event) error {
		buf = append(buf, e)
		count++
		if len(buf) == batch || count == n {
			if err := s.WriteEvents(ctx, buf); err != nil {
				return err
			}
			buf = buf[:0]
			if count%10_000_000 == 0 { // a long load says how far it is (stderr: the benchmark's log comes at its end)
				fmt.Fprintf(os.Stderr, "loaded %d of %d events\n", count, n)
			}
		}
		if count == n {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return err
	}
	if len(buf) > 0 {
		return s.WriteEvents(ctx, buf)
	}
	return nil
}
