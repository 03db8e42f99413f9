package history_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"breachd/event"
	"breachd/history"
	"breachd/simulate"
)

// BenchmarkWriteEvents measures the history write path at several WriteEvents batch sizes: the
// simulated events of 4 organisations over 5 days (about 160 k, 80 % of them data access) are
// written in batches of the size named, into a fresh data directory, and the engine's background
// merges are then waited for (at most a minute), so merge CPU counts against the rows that
// caused it. Every iteration writes the whole workload into truncated tables:
//
//	setsid go test ./history/ -run '^$' -bench WriteEvents -benchtime 1x -count 3
//
// Metrics, per written event: cpu_µs/event (the process's user+sys CPU, Go and engine, from the
// first insert until merges are done), bg_cpu_µs/event (of that, the engine's own background
// threads: merges, part cleanup), events/s (insert wall time only), parts/insert (parts the
// inserts created per WriteEvents call) and merged_rows/row (rows rewritten by merges per
// inserted row: the write amplification).
func BenchmarkWriteEvents(b *testing.B) {
	ctx := context.Background()
	evs := simulatedEvents(b, simulate.Config{Seed: 1, Orgs: 4, Days: 5})
	for _, batch := range []int{1000, 4000, 20000, 100000} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			s := openLoadStore(b, filepath.Join(b.TempDir(), "data"))
			var m writeMetrics
			for b.Loop() {
				b.StopTimer()
				if err := truncateEvents(ctx, s); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				r, err := writeWorkload(ctx, s, evs, batch)
				if err != nil {
					b.Fatal(err)
				}
				m.add(r)
			}
			m.report(b, len(evs))
		})
	}
}

// BenchmarkWriteOneEvent measures the fixed cost of a WriteEvents call: one access event per
// call, so one INSERT and one new part each. cpu_µs/op is the process's CPU per call, Go and
// engine (on this kind of machine mostly the kernel creating the part's files):
//
//	setsid go test ./history/ -run '^$' -bench WriteOneEvent -benchtime 200x
func BenchmarkWriteOneEvent(b *testing.B) {
	ctx := context.Background()
	s := openLoadStore(b, filepath.Join(b.TempDir(), "data"))
	evs := simulatedEvents(b, simulate.Config{Seed: 1, Orgs: 1, Days: 1})
	var access []*event.Event
	for _, e := range evs {
		if e.Kind == event.KindAccess {
			access = append(access, e)
		}
	}
	cpu0, _ := processCPU()
	i := 0
	for b.Loop() {
		if err := s.WriteEvents(ctx, access[i%len(access):][:1]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	cpu1, _ := processCPU()
	b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(i), "cpu_µs/op")
}

// simulatedEvents generates every event of cfg in memory.
func simulatedEvents(tb testing.TB, cfg simulate.Config) []*event.Event {
	tb.Helper()
	g, err := simulate.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	var evs []*event.Event
	if err := g.Run(context.Background(), func(e *event.Event) error { evs = append(evs, e); return nil }); err != nil {
		tb.Fatal(err)
	}
	return evs
}

// writeMetrics sums what writeWorkload measured over the iterations of a benchmark.
type writeMetrics struct {
	runs                   int
	cpu, bg, insertWall    time.Duration
	inserts, parts, merged int64
}

func (m *writeMetrics) add(r writeMetrics) {
	m.runs++
	m.cpu += r.cpu
	m.bg += r.bg
	m.insertWall += r.insertWall
	m.inserts += r.inserts
	m.parts += r.parts
	m.merged += r.merged
}

func (m writeMetrics) report(b *testing.B, events int) {
	rows := float64(events * m.runs)
	b.ReportMetric(float64(m.cpu.Microseconds())/rows, "cpu_µs/event")
	b.ReportMetric(float64(m.bg.Microseconds())/rows, "bg_cpu_µs/event")
	b.ReportMetric(rows/m.insertWall.Seconds(), "events/s")
	b.ReportMetric(float64(m.parts)/float64(m.inserts), "parts/insert")
	b.ReportMetric(float64(m.merged)/rows, "merged_rows/row")
}

// writeWorkload writes evs in batches of batch events, waits for the engine's merges to finish
// and returns what it cost.
func writeWorkload(ctx context.Context, s *history.Store, evs []*event.Event, batch int) (writeMetrics, error) {
	var m writeMetrics
	cpu0, bg0 := processCPU()
	t0 := time.Now()
	for i := 0; i < len(evs); i += batch {
		if err := s.WriteEvents(ctx, evs[i:min(i+batch, len(evs))]); err != nil {
			return m, err
		}
		m.inserts++
	}
	m.insertWall = time.Since(t0)
	if err := waitMerges(ctx, s, time.Minute); err != nil {
		return m, err
	}
	cpu1, bg1 := processCPU()
	m.cpu, m.bg = cpu1-cpu0, bg1-bg0
	err := s.Conn().QueryRow(ctx, `SELECT toInt64(countIf(min_block_number = max_block_number)), toInt64(sumIf(rows, min_block_number < max_block_number))
		FROM system.parts WHERE database = currentDatabase() AND table IN ?`, eventTables).Scan(&m.parts, &m.merged)
	return m, err
}

// waitMerges returns once the engine has run no merge for a second, or after limit.
func waitMerges(ctx context.Context, s *history.Store, limit time.Duration) error {
	idle := 0
	for end := time.Now().Add(limit); idle < 4 && time.Now().Before(end); {
		var n uint64
		if err := s.Conn().QueryRow(ctx, `SELECT count() FROM system.merges`).Scan(&n); err != nil {
			return fmt.Errorf("system.merges: %w", err)
		}
		if idle++; n > 0 {
			idle = 0
		}
		time.Sleep(250 * time.Millisecond)
	}
	return nil
}

// truncateEvents empties the event tables and forgets their parts, merged ones included.
func truncateEvents(ctx context.Context, s *history.Store) error {
	for _, t := range eventTables {
		if err := s.Conn().Exec(ctx, "TRUNCATE TABLE "+t+" SETTINGS alter_sync = 2"); err != nil {
			return fmt.Errorf("truncate %s: %w", t, err)
		}
	}
	return nil
}

// processCPU returns the process's user+sys CPU time and, of it, the part spent by threads the
// engine named (ClickHouse names its pool threads; Go's threads keep the program's name). A
// thread that ended is not in the second number.
func processCPU() (total, engine time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		total = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	self, _ := os.ReadFile("/proc/self/comm")
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		stat, err := os.ReadFile(filepath.Join("/proc/self/task", t.Name(), "stat"))
		if err != nil {
			continue
		}
		open, end := strings.IndexByte(string(stat), '('), strings.LastIndexByte(string(stat), ')')
		if open < 0 || end < open || string(stat[open+1:end]) == strings.TrimSpace(string(self)) {
			continue
		}
		f := strings.Fields(string(stat[end+1:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		engine += time.Duration(ut+st) * 10 * time.Millisecond // clock ticks of 1/100 s
	}
	return total, engine
}
