package directory

import (
	"context"
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
// each keeps two versions) and reports the heap again, and the extra heap per changed fact. Its
// renewal case adds one membership in two again, in a group of a new name (a new school year's
// groups), 200 days after the first snapshot (so each is absent before its time), reports the
// heap and the extra heap per new membership, then asserts them all again a day later (a
// re-sent snapshot) and reports the extra heap per re-asserted membership:
//
//	BREACHD_DIRECTORY_PERSONS=1300000 go test -run '^$' -bench Catalogue -benchtime 1x ./directory/
func BenchmarkCatalogue(b *testing.B) {
	f := simulate.Federation{Seed: 1, Persons: benchPersons(b)}
	for _, c := range []struct {
		name           string
		churn, renewal int
	}{{"no-churn", 0, 0}, {"churn-1-in-20", 20, 0}, {"renewal-1-in-2", 0, 2}} {
		b.Run(c.name, func(b *testing.B) {
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
				if c.churn > 0 {
					changed := 0
					if _, err := simulate.RunFederation(context.Background(), f, func(e *event.Event) error {
						if e.Op != event.OpMembership {
							return nil
						}
						if changed++; changed%c.churn != 0 {
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
				if c.renewal > 0 {
					renewed := 0
					for day := range 2 {
						added := 0
						if _, err := simulate.RunFederation(context.Background(), f, func(e *event.Event) error {
							if e.Op != event.OpMembership {
								return nil
							}
							if added++; added%c.renewal != 0 {
								return nil
							}
							events++
							e.Time, e.Group = e.Time.Add(time.Duration(200+day)*24*time.Hour), e.Group+"-next"
							return d.Apply(e)
						}); err != nil {
							b.Fatal(err)
						}
						renewed = added / c.renewal
						grown := float64(heapInUse() - before)
						per := "B/renewed"
						if day > 0 {
							per = "B/reasserted"
						}
						b.ReportMetric((grown-heap)/float64(renewed), per)
						heap = grown
					}
					b.ReportMetric(float64(renewed), "renewed")
					b.ReportMetric(float64(d.Stats().Versioned), "versioned")
				}
				b.ReportMetric(heap/(1<<20), "MB")
				runtime.KeepAlive(d)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
		})
	}
}
