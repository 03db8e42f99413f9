package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"breachd/event"
)

// BenchmarkDeskList10k: Desk.List over 10 000 incidents in the embedded NATS KV bucket (ten
// organisations, half of the incidents closed), for the SOC (every organisation) and for one
// organisation's administrator; cold (a new Store: the CLI's one call) and warm (a Store that
// listed before: the API server's).
//
//	go test -run '^$' -bench DeskList10k -benchtime 20x ./notify/
func BenchmarkDeskList10k(b *testing.B) {
	const n, orgs = 10000, 10
	js, _ := startJetStream(b)
	ctx := context.Background()
	incs := testIncidents(b, js, nil, t0)
	for i := range n {
		org := fmt.Sprintf("org%d.kommune.no", i%orgs)
		inc := &event.Incident{ID: fmt.Sprintf("INC-20261102-%08x", i), Org: org, Account: fmt.Sprintf("u%d@%s", i, org),
			State: event.StateDetected, Severity: event.SeverityHigh, Opened: t0.Add(time.Duration(i) * time.Second), Version: 1,
			Summary: "bench", Timeline: []event.TimelineEntry{{At: t0, Actor: actor, Kind: event.TimelineAction, Text: "opened"}}}
		if i%2 == 1 {
			inc.State = event.StateClosed
		}
		inc.Deadline = inc.Opened.Add(72 * time.Hour)
		data, err := json.Marshal(inc)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := incs.kv.Create(ctx, incKey(inc.ID), data); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name  string
		scope event.Scope
		cold  bool // a new Store each time (the CLI); else one that listed before (the API server)
		want  int
	}{
		{"cold/everywhere", event.Everywhere, true, n},
		{"cold/one-org", event.OrgScope("org3.kommune.no"), true, n / orgs},
		{"warm/everywhere", event.Everywhere, false, n},
		{"warm/one-org", event.OrgScope("org3.kommune.no"), false, n / orgs},
	} {
		b.Run(c.name, func(b *testing.B) {
			d := &Desk{Incidents: testIncidents(b, js, nil, t0), Scope: c.scope}
			list := func() {
				rows, err := d.List(ctx, ListRequest{All: true})
				if err != nil {
					b.Fatal(err)
				}
				if len(rows.Rows) != c.want {
					b.Fatalf("%d incidents listed, want %d", len(rows.Rows), c.want)
				}
			}
			list()
			for b.Loop() {
				if c.cold {
					d.Incidents = testIncidents(b, js, nil, t0)
				}
				list()
			}
		})
	}
}
