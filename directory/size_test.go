package directory

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

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
// whole heap, so they are upper bounds, not shares) and the time per applied event. Its churn
// case then changes the role of one membership in twenty a day later (within the horizon, so
// each keeps two versions) and reports the heap again, and the extra heap per changed fact:
//
//	BREACHD_DIRECTORY_PERSONS=1300000 go test -run '^$' -bench Catalogue -benchtime 1x ./directory/
func BenchmarkCatalogue(b *testing.B) {
	f := simulate.Federation{Seed: 1, Persons: benchPersons(b)}
	for _, churn := range []int{0, 20} {
		name := "no-churn"
		if churn > 0 {
			name = fmt.Sprintf("churn-1-in-%d", churn)
		}
		b.Run(name, func(b *testing.B) {
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
				if churn > 0 {
					changed := 0
					if _, err := simulate.RunFederation(context.Background(), f, func(e *event.Event) error {
						if e.Op != event.OpMembership {
							return nil
						}
						if changed++; changed%churn != 0 {
							return nil
						}
						events++
						e.Time, e.Role = e.Time.Add(24*time.Hour), map[string]string{RoleStudent: RoleFaculty, RoleFaculty: RoleStudent}[e.Role]
						return d.Apply(e)
					}); err != nil {
						b.Fatal(err)
					}
					churned := float64(heapInUse() - before)
					b.ReportMetric(float64(d.Stats().Versioned), "versioned")
					b.ReportMetric((churned-heap)/float64(d.Stats().Versioned), "B/versioned")
					heap = churned
				}
				b.ReportMetric(heap/(1<<20), "MB")
				runtime.KeepAlive(d)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
		})
	}
}
