package directory

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"

	"breachd/event"
	"breachd/simulate"
)

// benchPersons is the federation size of BenchmarkCatalogue: BREACHD_DIRECTORY_PERSONS, or
// 100 000 (Feide's 1.3 M takes about a minute and a few hundred MB).
func benchPersons(b *testing.B) int {
	if v := os.Getenv("BREACHD_DIRECTORY_PERSONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("BREACHD_DIRECTORY_PERSONS=%q: %v", v, err)
		}
		return n
	}
	return 100_000
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkCatalogue builds a catalogue from a simulated federation (simulate.RunFederation)
// and reports its heap per person, per membership and per guardianship (each divided by the
// whole heap, so they are upper bounds, not shares) and the time per applied event:
//
//	BREACHD_DIRECTORY_PERSONS=1300000 go test -run '^$' -bench Catalogue -benchtime 1x ./directory/
func BenchmarkCatalogue(b *testing.B) {
	f := simulate.Federation{Seed: 1, Persons: benchPersons(b)}
	var events int64
	for b.Loop() {
		before := heapInUse()
		d := New()
		size, err := simulate.RunFederation(context.Background(), f, func(e *event.Event) error {
			events++
			return d.Apply(e)
		})
		if err != nil {
			b.Fatal(err)
		}
		heap := float64(heapInUse() - before)
		st := d.Stats()
		if st.Persons != size.Persons || int64(st.Memberships) != size.Memberships || int64(st.Guardianships) != size.Guardianships {
			b.Fatalf("catalogue %+v, federation %+v", st, size)
		}
		b.ReportMetric(heap/float64(st.Persons), "B/person")
		b.ReportMetric(heap/float64(st.Memberships), "B/membership")
		b.ReportMetric(heap/float64(st.Guardianships), "B/guardianship")
		b.ReportMetric(heap/(1<<20), "MB")
		runtime.KeepAlive(d)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
}
