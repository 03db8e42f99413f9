package simulate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"breachd/event"
)

func jsonLines(t *testing.T, cfg Config) []byte {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := g.WriteJSONLines(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDeterminism(t *testing.T) {
	base := Defaults()
	other := base
	other.Seed = 2
	quiet := base
	quiet.Breaches = false
	cases := []struct {
		name string
		a, b Config
		same bool
	}{
		{"same config", base, base, true},
		{"other seed", base, other, false},
		{"breaches off", base, quiet, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := sha256.Sum256(jsonLines(t, c.a)), sha256.Sum256(jsonLines(t, c.b))
			if (a == b) != c.same {
				t.Errorf("outputs identical = %v, want %v", a == b, c.same)
			}
		})
	}
}

// Concurrent runs of one Generator emit the same stream.
func TestConcurrentRuns(t *testing.T) {
	g, err := New(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	sums := make([][32]byte, 4)
	for i := range sums {
		wg.Go(func() {
			var buf bytes.Buffer
			if _, err := g.WriteJSONLines(context.Background(), &buf); err != nil {
				t.Error(err)
			}
			sums[i] = sha256.Sum256(buf.Bytes())
		})
	}
	wg.Wait()
	for i := range sums {
		if sums[i] != sums[0] {
			t.Fatalf("run %d differs from run 0", i)
		}
	}
}

var idPattern = regexp.MustCompile(`^(idp|lms|sas|msg)-[0-9]+-[0-9]{6,}$`)

func TestEventsAndOrder(t *testing.T) {
	friday := time.Date(2026, 11, 6, 0, 0, 0, 0, oslo())
	dst := time.Date(2027, 3, 26, 0, 0, 0, 0, oslo()) // summer time starts Sunday 28 March
	cases := []struct {
		name string
		cfg  Config
	}{
		{"defaults", Defaults()},
		{"week from friday", Config{Seed: 7, Days: 7, Start: friday, Breaches: true}},
		{"over summer time", Config{Seed: 3, Days: 4, Start: dst}},
		{"tiny", Config{Seed: 9, Orgs: 1, SchoolsPerOrg: 1, ClassesPerSchool: 1, PupilsPerClass: 3}},
		{"wide", Config{Seed: 5, Orgs: 3, SchoolsPerOrg: 3, ClassesPerSchool: 7, PupilsPerClass: 26, Breaches: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			skipLargeInShort(t, c.cfg)
			w := generate(t, c.cfg)
			cfg := w.g.Config()
			clk := newClock(cfg.Start, cfg.Days)
			if want := clk.time(clk.at(0, -2*hour)); !w.evs[0].Time.Equal(want) {
				t.Errorf("snapshot dated %v, want %v", w.evs[0].Time, want)
			}
			if w.snap == 0 || w.snap == len(w.evs) {
				t.Fatalf("snapshot has %d of %d events", w.snap, len(w.evs))
			}
			ids := map[string]bool{}
			for i, e := range w.evs {
				if !idPattern.MatchString(e.ID) || ids[e.ID] {
					t.Fatalf("event %d: id %q malformed or repeated", i, e.ID)
				}
				ids[e.ID] = true
				if i > w.snap && e.Time.Before(w.evs[i-1].Time) {
					t.Fatalf("event %d (%s) at %v is before event %d at %v", i, e.ID, e.Time, i-1, w.evs[i-1].Time)
				}
			}
			perDay := make([]int, cfg.Days)
			for _, e := range w.activity() {
				d := int((e.Time.UnixMilli() - clk.days[0]) / (24 * hour))
				if d < 0 || d >= cfg.Days {
					t.Fatalf("event %s at %v outside the simulated days", e.ID, e.Time)
				}
				perDay[d]++
			}
			for d, n := range perDay {
				if clk.weekend(d) && n*4 > perDay[0] {
					t.Errorf("weekend day %d has %d events, weekday %d", d, n, perDay[0])
				}
			}
		})
	}
}

// Times are written in Oslo time with their offset: +01:00 in winter, +02:00 in summer.
func TestTimeOffsets(t *testing.T) {
	cfg := Config{Seed: 3, Days: 4, Start: time.Date(2027, 3, 26, 0, 0, 0, 0, oslo())}
	out := string(jsonLines(t, cfg))
	for _, want := range []string{`"time":"2027-03-26T08:`, `+01:00"`, `"time":"2027-03-29T08:`, `+02:00"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s", want)
		}
	}
	if strings.Contains(out, `Z"`) {
		t.Error("output has UTC times")
	}
}

func TestRunStops(t *testing.T) {
	g, err := New(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	var n int
	err = g.Run(context.Background(), func(*event.Event) error {
		if n++; n == 100 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 100 {
		t.Errorf("Run = %v after %d events, want the emit error after 100", err, n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	err = g.Run(ctx, func(*event.Event) error {
		if n++; n == 1000 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n > 1000+ctxEvery {
		t.Errorf("Run = %v after %d events, want context.Canceled soon after 1000", err, n)
	}
}

func TestConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		bad  string // substring of the error; empty: valid
	}{
		{"zero is defaults", Config{}, ""},
		{"defaults", Defaults(), ""},
		{"negative orgs", Config{Orgs: -1}, "Orgs"},
		{"too many days", Config{Days: MaxDays + 1}, "Days"},
		{"huge class", Config{PupilsPerClass: 41}, "PupilsPerClass"},
		{"breaches need classes", Config{ClassesPerSchool: 1, Breaches: true}, "ClassesPerSchool"},
		{"breaches need pupils", Config{PupilsPerClass: 8, Breaches: true}, "PupilsPerClass"},
		{"tiny without breaches", Config{ClassesPerSchool: 1, PupilsPerClass: 1}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.cfg)
			switch {
			case c.bad == "" && err != nil:
				t.Errorf("New: %v", err)
			case c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad)):
				t.Errorf("New = %v, want an error naming %s", err, c.bad)
			}
		})
	}
	g, _ := New(Config{})
	if got := g.Config(); got.Orgs != 2 || got.Days != 1 || got.Start.Weekday() != time.Monday || got.Start.Location().String() != "Europe/Oslo" {
		t.Errorf("defaulted config = %+v", got)
	}
}

// EstimateEvents stays close to the generator, and the defaults are a realistic day.
func TestEstimate(t *testing.T) {
	cases := []Config{
		Defaults(),
		{Seed: 2, Orgs: 3, SchoolsPerOrg: 3, ClassesPerSchool: 10, PupilsPerClass: 25, Days: 7},
		{Seed: 4, Orgs: 1, SchoolsPerOrg: 1, ClassesPerSchool: 2, PupilsPerClass: 15, Days: 2, Breaches: true},
	}
	for _, cfg := range cases {
		g, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := g.Run(context.Background(), func(*event.Event) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		est := EstimateEvents(cfg)
		if d := float64(n-est.Total) / float64(est.Total); d < -0.06 || d > 0.06 {
			t.Errorf("%+v: %d events, estimate %d (%+.1f%%)", cfg, n, est.Total, 100*d)
		}
	}
	if est := EstimateEvents(Defaults()); est.Weekday < 10_000 || est.Weekday > 50_000 {
		t.Errorf("default weekday estimate %d, want 10k..50k", est.Weekday)
	}
}

// BenchmarkGenerate measures generation into memory (a counting emit): a school week of the
// default population, reported as events/s.
func BenchmarkGenerate(b *testing.B) {
	cfg := Defaults()
	cfg.Days = 5
	g, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	b.ReportAllocs()
	for b.Loop() {
		err := g.Run(context.Background(), func(*event.Event) error { n++; return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(n)/float64(b.N), "events/op")
}

// BenchmarkWriteJSONLines measures generation plus canonical JSON encoding (event.Marshal).
func BenchmarkWriteJSONLines(b *testing.B) {
	cfg := Defaults()
	cfg.Days = 5
	g, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for b.Loop() {
		k, err := g.WriteJSONLines(context.Background(), io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		n += k
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkNew measures building the population and scenarios of the defaults.
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, err := New(Defaults()); err != nil {
			b.Fatal(err)
		}
	}
}

// skipLargeInShort skips configurations of more than 50,000 events in -short.
func skipLargeInShort(t *testing.T, cfg Config) {
	if testing.Short() && EstimateEvents(cfg).Total > 50_000 {
		t.Skip("large configuration; run without -short")
	}
}
