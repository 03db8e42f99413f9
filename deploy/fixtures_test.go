package deploy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"breachd/bus"
	"breachd/event"
	"breachd/ingest"
	"breachd/rules"
)

// eventsSource submits fixed events as canonical JSON, like any other source.
type eventsSource []event.Event

func (s eventsSource) Run(ctx context.Context, sink ingest.Sink) error {
	recs := make([]ingest.Record, 0, len(s))
	for i := range s {
		b, err := event.Marshal(&s[i])
		if err != nil {
			return err
		}
		recs = append(recs, ingest.Record{Data: b, Where: fmt.Sprintf("fixture:%d", i+1)})
	}
	_, err := sink.Submit(ctx, ingest.Batch{Source: "fixture", Records: recs})
	return err
}

// reset empties the streams, the incident bucket and the history tables between fixtures.
func reset(t *testing.T, in *Infra) {
	t.Helper()
	ctx := context.Background()
	admin := adminJS(t, in) // the pipeline may not purge
	for _, name := range []string{bus.StreamEvents, bus.StreamAlerts, bus.StreamIncidents, "KV_" + bus.BucketIncidents} {
		s, err := admin.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Purge(ctx); err != nil {
			t.Fatalf("purge %s: %v", name, err)
		}
	}
	for _, table := range []string{"auth_events", "access_events", "directory_events", "alerts", "incidents"} {
		if err := in.History.Conn().Exec(ctx, "TRUNCATE TABLE "+table); err != nil {
			t.Fatal(err)
		}
	}
}

// renamed gives a fixture's events ids of their own, so that fixtures sharing ids (the runner
// numbers them per fixture) are not taken for replays by JetStream's duplicate window.
func renamed(evs []event.Event, prefix string) []event.Event {
	out := make([]event.Event, len(evs))
	for i, e := range evs {
		e.ID = prefix + e.ID
		out[i] = e
	}
	return out
}

func pointers(evs []event.Event) []*event.Event {
	out := make([]*event.Event, len(evs))
	for i := range evs {
		out[i] = &evs[i]
	}
	return out
}

// TestShippedFixturesThroughPipeline runs every test of every shipped rule through the real
// pipeline (ingest → JetStream → detector → ClickHouse history and lookups → alerts), with
// the fixture's directory and history stored in ClickHouse first, and expects exactly the alerts
// the fixture runner (`breachd rules test`) expects.
func TestShippedFixturesThroughPipeline(t *testing.T) {
	pack, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	fixtures := pack.Fixtures()
	if len(fixtures) < 20 {
		t.Fatalf("the pack has only %d fixtures", len(fixtures))
	}
	in := startTestInfra(t, t.TempDir()+"/data")
	defer in.Close()
	ctx := context.Background()
	for i, fx := range fixtures {
		t.Run(fmt.Sprintf("%s/%s", fx.Rule, fx.Name), func(t *testing.T) {
			reset(t, in)
			prefix := fmt.Sprintf("fx%d-", i)
			// Directory preload and history are facts before the fixture: stored, not evaluated.
			pre := append(renamed(fx.Directory, prefix+"dir-"), renamed(fx.History, prefix+"hist-")...)
			if err := in.History.WriteEvents(ctx, pointers(pre)); err != nil {
				t.Fatal(err)
			}
			one, err := pack.Only(fx.Rule)
			if err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			err = RunPipeline(rctx, in, PipelineConfig{RuleSet: one, ExitWhenDone: true, Logger: testLogger(t),
				Stages:  []string{StageIngest, StageDetect}, // the alerts are what is compared
				Sources: []ingest.Source{eventsSource(renamed(fx.Events, prefix))}})
			if err != nil {
				t.Fatalf("pipeline: %v", err)
			}
			got := count(t, in, fmt.Sprintf("SELECT count() FROM alerts FINAL WHERE rule_id = '%s'", fx.Rule))
			if got != uint64(fx.Want) {
				t.Errorf("%s:%d: %d alerts through the pipeline, the fixture expects %d", fx.File, fx.Line, got, fx.Want)
			}
		})
	}
}
