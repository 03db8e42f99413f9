package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/auth"
	"breachd/bus"
)

// TestPipeline: GET /api/pipeline shows the streams in pipeline order with their consumers'
// lag, the dead letters by source, and the process's breach_* counters.
func TestPipeline(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, src := range []string{"file", "file", "http"} {
		if _, err := e.js.JS.Publish(ctx, bus.DLQSubject(src), []byte("bad line"), jetstream.WithMsgID(fmt.Sprint("dl-", i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"e1", "e2"} {
		if _, err := e.js.JS.Publish(ctx, bus.SubjectEvents+".auth.0", []byte("{}"), jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.js.JS.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{Durable: "lagging"}); err != nil {
		t.Fatal(err)
	}
	soc := principalName(auth.RoleSOC, bergen)
	e.do("GET", "/api/rules", soc, "") // a request for the API's counters
	resp, b := e.do("GET", "/api/pipeline", soc, "")
	if resp.StatusCode != 200 {
		t.Fatalf("pipeline: %d %s", resp.StatusCode, b)
	}
	var got struct {
		Time    time.Time `json:"time"`
		Streams []struct {
			Name      string     `json:"name"`
			Exists    bool       `json:"exists"`
			Messages  uint64     `json:"messages"`
			LastSeq   uint64     `json:"last_seq"`
			LastTime  *time.Time `json:"last_time"`
			Consumers []struct {
				Name    string `json:"name"`
				Pending uint64 `json:"pending"`
			} `json:"consumers"`
		} `json:"streams"`
		DeadLetters struct {
			Total    uint64            `json:"total"`
			BySource map[string]uint64 `json:"by_source"`
		} `json:"dead_letters"`
		Metrics []struct {
			Name   string            `json:"name"`
			Type   string            `json:"type"`
			Labels map[string]string `json:"labels"`
			Value  float64           `json:"value"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if got.Time.IsZero() {
		t.Error("no sample time")
	}
	var names []string
	for _, s := range got.Streams {
		names = append(names, s.Name)
	}
	if want := []string{bus.StreamEvents, bus.StreamAlerts, bus.StreamIncidents, bus.StreamDLQ}; !slices.Equal(names, want) {
		t.Fatalf("streams %v, want %v", names, want)
	}
	ev := got.Streams[0]
	if !ev.Exists || ev.Messages != 2 || ev.LastSeq != 2 || ev.LastTime == nil {
		t.Errorf("EVENTS: %+v, want 2 messages, last seq 2, a last time", ev)
	}
	lag := map[string]uint64{}
	for _, c := range ev.Consumers {
		lag[c.Name] = c.Pending
	}
	if l, ok := lag["lagging"]; !ok || l != 2 {
		t.Errorf("EVENTS consumers %v, want lagging with 2 pending", lag)
	}
	if len(got.Streams[1].Consumers) == 0 {
		t.Errorf("ALERTS: no consumers, want the notifier's")
	}
	if dl := got.DeadLetters; dl.Total != 3 || dl.BySource["file"] != 2 || dl.BySource["http"] != 1 || len(dl.BySource) != 2 {
		t.Errorf("dead letters %+v, want 3: file 2, http 1", dl)
	}
	var requests float64
	for _, m := range got.Metrics {
		if m.Name == "breach_api_requests_total" && m.Labels["route"] == "GET /api/rules" {
			requests += m.Value
			if m.Type != "counter" {
				t.Errorf("%s: type %s, want counter", m.Name, m.Type)
			}
		}
		if m.Name == "breach_api_request_duration_seconds" {
			t.Errorf("a histogram in the metrics: %+v", m)
		}
	}
	if requests != 1 {
		t.Errorf("breach_api_requests_total{route=GET /api/rules} = %v, want 1", requests)
	}
}
