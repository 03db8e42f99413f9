package rules

import (
	"testing"
	"time"
)

func BenchmarkTmpPerRule(b *testing.B) {
	set, _ := Default()
	dir, events := benchSchool(b)
	for _, r := range set.rules {
		one, _ := newSet([]*rule{r})
		b.Run(r.info.ID, func(b *testing.B) {
			g := NewEngine(one, dir, nil)
			i := 0
			for b.Loop() {
				e := &events[i%len(events)]
				e.Time = t0.Add(time.Duration(i) * 50 * time.Millisecond)
				g.Evaluate(e)
				i++
			}
		})
	}
}

func BenchmarkTmpVM(b *testing.B) {
	for _, src := range []string{`event.Country != ""`, `event.Country != "" && event.Country not in ["AT","BE"]`, `true`, `window.count > 0`} {
		b.Run(src, func(b *testing.B) {
			set := mustParse(b, "rules:\n  - {id: r, title: r, severity: low, when: [auth], condition: '"+src+"', window: {key: event.User, over: 1m}}\n")
			r := set.rules[0]
			g := NewEngine(set, nil, nil)
			e := auth("1", "u", "success", 0)
			g.env.Event = e
			for b.Loop() {
				g.vm.Run(r.cond.prog, &g.env)
			}
		})
	}
}
