package history_test

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"breachd/deploy"
	"breachd/event"
	"breachd/history"
	"breachd/simulate"
)

// The load test of issue 4: generate N events with breachd/simulate, insert them through
// Store.WriteEvents into the embedded engine (or the server of BREACHD_TEST_CLICKHOUSE_DSN),
// and report insert rows/s, Logins/Access latency for one account over 30 days (and Subject for
// one person), disk bytes per event and the total time. It takes minutes to hours, so it runs only when asked:
//
//	BREACHD_LOAD_EVENTS=100000000 go test ./history/ -run '^TestHistoryLoad$' -v -count=1 -timeout 0
//
// Environment:
//
//	BREACHD_LOAD_EVENTS    events to load (required; the test skips without it, the one opt-in
//	                       skip of the suite: a long run, not a missing dependency)
//	BREACHD_LOAD_BATCH     events per WriteEvents call (default 100000; 50k–100k was fastest on
//	                       the embedded engine, 500k ~30 % slower)
//	BREACHD_LOAD_DIR       parent of the data dir (default a t.TempDir); needs ~70 bytes/event
//	                       free, i.e. ~7 GB for 100 M. The run's own subdirectory is removed
//	                       afterwards unless BREACHD_LOAD_KEEP=1.
//	BREACHD_LOAD_OPTIMIZE  1: after the first measurement, OPTIMIZE TABLE ... FINAL the event
//	                       tables and measure disk and latency again
//	BREACHD_LOAD_RUNS      timed runs per query and account (default 20)
//
// The world is sized like the 100 M case of simulate's doc (Orgs 50, Days 365 from Monday
// 2026-11-02): the fewest orgs with which EstimateEvents reaches N in a year, then the fewest
// days (at least 31) that still reach it. Generation stops at exactly N events. It asserts only that the load and
// the queries succeed and return rows, never timings.
func TestHistoryLoad(t *testing.T) {
	n, err := envInt("BREACHD_LOAD_EVENTS", 0)
	if err != nil {
		t.Fatal(err)
	}
	if n <= 0 {
		t.Skip("long load test: set BREACHD_LOAD_EVENTS=N (e.g. 100000000) to run it; see load_bench_test.go")
	}
	batch, err := envInt("BREACHD_LOAD_BATCH", 100_000)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := envInt("BREACHD_LOAD_RUNS", 20)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cfg := loadConfig(n)
	est := simulate.EstimateEvents(cfg)
	dir := loadDir(t)
	s := openLoadStore(t, dir)
	ctx := context.Background()
	t.Logf("loading %d events: Orgs=%d Days=%d (estimate %d), batch %d, data dir %s",
		n, cfg.Orgs, cfg.Days, est.Total, batch, dir)

	ls, err := loadEvents(ctx, s, cfg, n, int(batch), func(rows int64, el time.Duration) {
		t.Logf("  %11d rows  %5.1f%%  %8.0f rows/s  %s", rows, 100*float64(rows)/float64(n),
			float64(rows)/el.Seconds(), el.Round(time.Second))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("inserted %d events in %s: %.0f rows/s (generation overlapped with inserts; slowest batch %s)",
		ls.rows, ls.elapsed.Round(time.Millisecond), float64(ls.rows)/ls.elapsed.Seconds(), ls.slowest.Round(time.Millisecond))

	from, to, err := lastDays(ctx, s, 30)
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := pickAccounts(ctx, s, from, to)
	if err != nil {
		t.Fatal(err)
	}
	phases := []string{"as loaded"}
	if os.Getenv("BREACHD_LOAD_OPTIMIZE") == "1" {
		phases = append(phases, "after OPTIMIZE FINAL")
	}
	var summary strings.Builder
	fmt.Fprintf(&summary, "\n=== breachd history load: %d events ===\n", ls.rows)
	fmt.Fprintf(&summary, "command:  %s go test ./history/ -run '^TestHistoryLoad$' -v -count=1 -timeout 0\n", loadEnv())
	fmt.Fprintf(&summary, "world:    simulate Orgs=%d Days=%d (EstimateEvents %d), loaded %d; auth %d, access %d, directory %d\n",
		cfg.Orgs, cfg.Days, est.Total, ls.rows, ls.auth, ls.access, ls.dir)
	fmt.Fprintf(&summary, "insert:   %.0f rows/s over %s (WriteEvents batches of %d, %d batches, slowest %s)\n",
		float64(ls.rows)/ls.elapsed.Seconds(), ls.elapsed.Round(time.Second), batch, ls.batches, ls.slowest.Round(time.Millisecond))
	fmt.Fprintf(&summary, "window:   [%s, %s) (the last 30 days of data), %d timed runs after one warm-up, audit row included\n",
		from.Format(time.DateOnly), to.Format(time.DateOnly), runs)
	for _, phase := range phases {
		if phase != "as loaded" {
			t0 := time.Now()
			if err := optimize(ctx, s); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&summary, "optimize: OPTIMIZE TABLE ... FINAL of the event tables took %s\n", time.Since(t0).Round(time.Second))
		}
		du, err := diskUsage(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&summary, "-- %s --\n", phase)
		var eventBytes int64
		for _, d := range du {
			fmt.Fprintf(&summary, "disk:     %-18s %12d bytes  %11d rows  %5d parts  %6.1f bytes/row\n",
				d.table, d.bytes, d.rows, d.parts, float64(d.bytes)/float64(max(d.rows, 1)))
			eventBytes += d.bytes
		}
		fmt.Fprintf(&summary, "disk:     %.1f bytes/event (bytes_on_disk of active parts of auth_events, access_events, directory_events / %d events)\n",
			float64(eventBytes)/float64(ls.rows), ls.rows)
		if os.Getenv("BREACHD_TEST_CLICKHOUSE_DSN") == "" {
			fmt.Fprintf(&summary, "disk:     data dir %d bytes in all (every table and engine file, parts merged away but not yet removed), %.1f bytes/event\n",
				dirBytes(dir), float64(dirBytes(dir))/float64(ls.rows))
		}
		for _, a := range accounts {
			for _, q := range a.queries() {
				lat, rows, err := timeQuery(ctx, s, q, a.id, from, to, int(runs))
				if err != nil {
					t.Fatal(err)
				}
				if rows == 0 {
					t.Errorf("%s of %s over [%s, %s) returned nothing", q, a.id, from, to)
				}
				fmt.Fprintf(&summary, "query:    %-7s %-8s %-34s median %7.1f ms  p95 %7.1f ms  max %7.1f ms  (%d result rows over %d %s events)\n",
					q, a.kind, a.id, ms(pct(lat, 50)), ms(pct(lat, 95)), ms(pct(lat, 100)), rows, a.events[q], q)
			}
		}
	}
	fmt.Fprintf(&summary, "total:    %s (data dir %s)\n", time.Since(start).Round(time.Second), dir)
	t.Log(summary.String())
}

// BenchmarkHistoryQueries times Logins and Access over 30 days for the busiest teacher and
// pupil, and Subject for the person whose data was accessed most, of a modest world (1 org, 35 days, about 200 k events) loaded once:
//
//	go test ./history/ -run '^$' -bench HistoryQueries -benchtime 50x
func BenchmarkHistoryQueries(b *testing.B) {
	ctx := context.Background()
	s := openLoadStore(b, filepath.Join(b.TempDir(), "data"))
	cfg := simulate.Config{Seed: 1, Orgs: 1, Days: 35}
	if _, err := loadEvents(ctx, s, cfg, 0, 200_000, nil); err != nil {
		b.Fatal(err)
	}
	from, to, err := lastDays(ctx, s, 30)
	if err != nil {
		b.Fatal(err)
	}
	accounts, err := pickAccounts(ctx, s, from, to)
	if err != nil {
		b.Fatal(err)
	}
	for _, a := range accounts {
		for _, q := range a.queries() {
			b.Run(q+"/"+a.kind, func(b *testing.B) {
				for b.Loop() {
					if _, err := runQuery(ctx, s, q, a.id, from, to); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// loadEnv is the BREACHD_ settings of this run, as a shell prefix.
func loadEnv() string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "BREACHD_LOAD_") || strings.HasPrefix(kv, "BREACHD_CHDB_LIB=") {
			out = append(out, kv)
		}
	}
	if os.Getenv("BREACHD_TEST_CLICKHOUSE_DSN") != "" {
		out = append(out, "BREACHD_TEST_CLICKHOUSE_DSN=...") // a password stays out of logs
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func envInt(name string, def int64) (int64, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(v, "_", ""), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a whole number: %w", name, v, err)
	}
	return n, nil
}

// loadConfig sizes a world of at least n events (with 5 % to spare): the fewest orgs that reach n in 365 days,
// then the fewest days (at least 31, so a 30-day window is full) that still reach n.
func loadConfig(n int64) simulate.Config {
	want := n + n/20 // EstimateEvents is within about 5 %; Run stops at n
	cfg := simulate.Config{Seed: 1, Orgs: 1, Days: 365}
	for cfg.Orgs < simulate.MaxOrgs && simulate.EstimateEvents(cfg).Total < want {
		cfg.Orgs++
	}
	for cfg.Days > 31 {
		c := cfg
		c.Days--
		if simulate.EstimateEvents(c).Total < want {
			break
		}
		cfg = c
	}
	return cfg
}

// loadDir is a fresh data directory under BREACHD_LOAD_DIR, or in a t.TempDir.
func loadDir(t *testing.T) string {
	parent := os.Getenv("BREACHD_LOAD_DIR")
	if parent == "" {
		return filepath.Join(t.TempDir(), "data")
	}
	if err := os.MkdirAll(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(parent, "breachd-load-")
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("BREACHD_LOAD_KEEP") != "1" {
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	return dir
}

// openLoadStore is openStore with the data dir given; the embedded engine's statements get
// the endpoint's default 5-minute timeout.
func openLoadStore(tb testing.TB, dir string) *history.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, err := deploy.StartHistoryOnly(ctx, deploy.InfraConfig{
		DataDir: dir, ClickHouseDSN: os.Getenv("BREACHD_TEST_CLICKHOUSE_DSN"),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatalf("open history: %v", err)
	}
	tb.Cleanup(in.Close)
	return in.History
}

type loadStats struct {
	rows, auth, access, dir int64
	batches                 int
	elapsed, slowest        time.Duration
}

// loadEvents streams the events of cfg (the first limit of them when limit > 0) into s in
// batches of batch events: one goroutine generates and fills batches, this one inserts them, so
// at most three batches are in memory. progress, if not nil, is called about every 10 s.
func loadEvents(ctx context.Context, s *history.Store, cfg simulate.Config, limit int64, batch int,
	progress func(rows int64, elapsed time.Duration)) (loadStats, error) {
	var st loadStats
	g, err := simulate.New(cfg)
	if err != nil {
		return st, err
	}
	eg, ctx := errgroup.WithContext(ctx)
	batches := make(chan []*event.Event, 1)
	eg.Go(func() error {
		defer close(batches)
		buf := make([]*event.Event, 0, batch)
		var n int64
		errEnough := fmt.Errorf("enough events")
		send := func() error {
			select {
			case batches <- buf:
				buf = make([]*event.Event, 0, batch)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err := g.Run(ctx, func(e *event.Event) error {
			buf = append(buf, e)
			n++
			if len(buf) == batch {
				if err := send(); err != nil {
					return err
				}
			}
			if limit > 0 && n >= limit {
				return errEnough
			}
			return nil
		})
		if err != nil && err != errEnough {
			return fmt.Errorf("generate: %w", err)
		}
		if len(buf) > 0 {
			return send()
		}
		return nil
	})
	eg.Go(func() error {
		t0 := time.Now()
		last := t0
		for evs := range batches {
			b0 := time.Now()
			if err := s.WriteEvents(ctx, evs); err != nil {
				return fmt.Errorf("batch %d (rows %d..): %w", st.batches+1, st.rows, err)
			}
			st.slowest = max(st.slowest, time.Since(b0))
			st.batches++
			st.rows += int64(len(evs))
			for _, e := range evs {
				switch e.Kind {
				case event.KindAuth:
					st.auth++
				case event.KindAccess:
					st.access++
				case event.KindDirectory:
					st.dir++
				}
			}
			if progress != nil && time.Since(last) >= 10*time.Second {
				last = time.Now()
				progress(st.rows, last.Sub(t0))
			}
		}
		st.elapsed = time.Since(t0)
		return nil
	})
	return st, eg.Wait()
}

// lastDays is the window of the last days days of data: to is midnight UTC after the latest
// login.
func lastDays(ctx context.Context, s *history.Store, days int) (from, to time.Time, err error) {
	var last time.Time
	if err := s.Conn().QueryRow(ctx, "SELECT max(time) FROM auth_events").Scan(&last); err != nil {
		return from, to, fmt.Errorf("latest login: %w", err)
	}
	to = last.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	return to.AddDate(0, 0, -days), to, nil
}

type loadAccount struct {
	kind, id string
	events   map[string]uint64 // of the window, by query
}

// queries are the lookups timed for a: logins and access of an account, subject of a person.
func (a loadAccount) queries() []string {
	if a.kind == "subject" {
		return []string{"subject"}
	}
	return []string{"logins", "access"}
}

// pickAccounts picks the busiest teacher and the busiest pupil of the window (by access
// events), and the person whose data was accessed most: the worst cases of their kind.
func pickAccounts(ctx context.Context, s *history.Store, from, to time.Time) ([]loadAccount, error) {
	var out []loadAccount
	for _, role := range []struct{ kind, role string }{{"teacher", "teacher"}, {"pupil", "student"}} {
		a := loadAccount{kind: role.kind, events: map[string]uint64{}}
		var n uint64
		if err := s.Conn().QueryRow(ctx, `SELECT actor, count() AS c FROM access_events
			WHERE actor_role = ? AND time >= ? AND time < ? GROUP BY actor ORDER BY c DESC, actor LIMIT 1`,
			role.role, from, to).Scan(&a.id, &n); err != nil {
			return nil, fmt.Errorf("busiest %s: %w", role.kind, err)
		}
		a.events["access"] = n
		if err := s.Conn().QueryRow(ctx, `SELECT count() FROM auth_events WHERE user = ? AND time >= ? AND time < ?`,
			a.id, from, to).Scan(&n); err != nil {
			return nil, fmt.Errorf("logins of %s: %w", a.id, err)
		}
		a.events["logins"] = n
		out = append(out, a)
	}
	a := loadAccount{kind: "subject", events: map[string]uint64{}}
	var n uint64
	if err := s.Conn().QueryRow(ctx, `SELECT subject, count() AS c FROM access_events
		WHERE time >= ? AND time < ? GROUP BY subject ORDER BY c DESC, subject LIMIT 1`, from, to).Scan(&a.id, &n); err != nil {
		return nil, fmt.Errorf("most accessed person: %w", err)
	}
	a.events["subject"] = n
	return append(out, a), nil
}

var loadAsker = history.Asker{Who: "load-test", Why: "benchmark"}

// runQuery runs Logins, Access or Subject and returns the number of result rows.
func runQuery(ctx context.Context, s *history.Store, q, account string, from, to time.Time) (int, error) {
	switch q {
	case "logins":
		rows, err := s.Logins(ctx, loadAsker, account, from, to)
		return len(rows), err
	case "subject":
		rows, err := s.Subject(ctx, loadAsker, account, from, to)
		return len(rows), err
	}
	sum, err := s.Access(ctx, loadAsker, account, from, to)
	return len(sum.Rows), err
}

// timeQuery runs q once to warm up, then runs times, and returns the latencies, sorted.
func timeQuery(ctx context.Context, s *history.Store, q, account string, from, to time.Time, runs int) ([]time.Duration, int, error) {
	n, err := runQuery(ctx, s, q, account, from, to)
	if err != nil {
		return nil, 0, err
	}
	lat := make([]time.Duration, 0, runs)
	for range runs {
		t0 := time.Now()
		if _, err := runQuery(ctx, s, q, account, from, to); err != nil {
			return nil, 0, err
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return lat, n, nil
}

// pct is the p-th percentile (nearest rank) of sorted.
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted)+99)/100 - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

var eventTables = []string{"auth_events", "access_events", "directory_events"}

type tableDisk struct {
	table              string
	bytes, rows, parts int64
}

// diskUsage sums bytes_on_disk of the active parts of the event tables.
func diskUsage(ctx context.Context, s *history.Store) ([]tableDisk, error) {
	rows, err := s.Conn().Query(ctx, `SELECT table, toInt64(sum(bytes_on_disk)), toInt64(sum(rows)), toInt64(count())
		FROM system.parts WHERE active AND database = currentDatabase() AND table IN ?
		GROUP BY table ORDER BY table`, eventTables)
	if err != nil {
		return nil, fmt.Errorf("system.parts: %w", err)
	}
	defer rows.Close()
	var out []tableDisk
	for rows.Next() {
		var d tableDisk
		if err := rows.Scan(&d.table, &d.bytes, &d.rows, &d.parts); err != nil {
			return nil, fmt.Errorf("system.parts: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func optimize(ctx context.Context, s *history.Store) error {
	for _, tab := range eventTables {
		if err := s.Conn().Exec(ctx, "OPTIMIZE TABLE "+tab+" FINAL"); err != nil {
			return fmt.Errorf("optimize %s: %w", tab, err)
		}
	}
	return nil
}

// dirBytes is the size of the files under dir (a cross-check of system.parts).
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
