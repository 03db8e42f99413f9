package dlq_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/ingest"
	"breachd/ingest/dlq"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func pipeline(t *testing.T, s *bustest.Server) *ingest.Pipeline {
	p, err := ingest.NewPipeline(bus.NewPublisher(s.JS), s.Layout(t), discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const good = `{"kind":"auth","id":"a1","time":"2026-11-02T08:01:13Z","org":"o.no","user":"u@o.no","service":"s","result":"success"}`

type sub struct {
	source string
	recs   []ingest.Record
}

func submit(t *testing.T, sink ingest.Sink, subs ...sub) {
	t.Helper()
	for _, s := range subs {
		if _, err := sink.Submit(ctx(t), ingest.Batch{Source: s.source, Records: s.recs}); err != nil {
			t.Fatalf("submit %s: %v", s.source, err)
		}
	}
}

func rec(where, data string) ingest.Record { return ingest.Record{Data: []byte(data), Where: where} }

// seed stores five dead letters from three sources (two of which share a subject token) and one
// valid event.
func seed(t *testing.T, s *bustest.Server) {
	t.Helper()
	submit(t, pipeline(t, s),
		sub{"file", []ingest.Record{rec("a.jsonl:1", "not json \x1b[31m"), rec("a.jsonl:2", good),
			rec("a.jsonl:3", `{"kind":"x","id":"1","time":"2026-11-02T08:00:00Z","org":"o"}`)}},
		sub{"kafka.topic", []ingest.Record{rec("p0@7", `{"kind":"y","id":"2","time":"2026-11-02T08:00:00Z","org":"o"}`)}},
		sub{"kafka_topic", []ingest.Record{rec("p1@9", `{"kind":"auth","id":"3","time":"yesterday","org":"o"}`)}},
		sub{"file", []ingest.Record{rec("b.jsonl:1", `{"kind":"auth"}`)}},
	)
}

func streamState(t *testing.T, s *bustest.Server) (msgs, first, last uint64, consumers int) {
	t.Helper()
	st, err := s.JS.Stream(ctx(t), bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs, info.State.FirstSeq, info.State.LastSeq, info.State.Consumers
}

func TestListGetAndFilters(t *testing.T) {
	s := bustest.Start(t)
	seed(t, s)
	m0, f0, l0, c0 := streamState(t, s)

	all, err := dlq.List(ctx(t), s.JS, dlq.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	wantWhere := []string{"a.jsonl:1", "a.jsonl:3", "p0@7", "p1@9", "b.jsonl:1"}
	if len(all) != len(wantWhere) {
		t.Fatalf("List returned %d letters, want %d: %+v", len(all), len(wantWhere), all)
	}
	for i, l := range all {
		if l.Where != wantWhere[i] || (i > 0 && l.Seq <= all[i-1].Seq) || l.Reason == "" || l.Time.IsZero() {
			t.Errorf("letter %d: %+v", i, l)
		}
	}
	if string(all[0].Data) != "not json \x1b[31m" || all[0].Source != "file" || all[0].Subject != "breachd.dlq.file" ||
		!strings.Contains(all[0].Reason, "not a JSON object") {
		t.Errorf("first letter: %+v", all[0])
	}
	if all[2].Source != "kafka.topic" || all[2].Subject != "breachd.dlq.kafka_topic" || all[3].Source != "kafka_topic" {
		t.Errorf("sources sharing a token: %+v / %+v", all[2], all[3])
	}

	cases := []struct {
		name string
		f    dlq.Filter
		want []string // wheres
	}{
		{"source", dlq.Filter{Source: "file"}, []string{"a.jsonl:1", "a.jsonl:3", "b.jsonl:1"}},
		{"source with a shared token", dlq.Filter{Source: "kafka.topic"}, []string{"p0@7"}},
		{"other source with that token", dlq.Filter{Source: "kafka_topic"}, []string{"p1@9"}},
		{"unknown source", dlq.Filter{Source: "nope"}, nil},
		{"reason, any case", dlq.Filter{ReasonContains: "UNKNOWN KIND"}, []string{"a.jsonl:3", "p0@7"}},
		{"reason and source", dlq.Filter{ReasonContains: "unknown kind", Source: "file"}, []string{"a.jsonl:3"}},
		{"limit", dlq.Filter{Limit: 2}, []string{"a.jsonl:1", "a.jsonl:3"}},
		{"since after all", dlq.Filter{Since: all[4].Time.Add(time.Millisecond)}, nil},
		{"until before all", dlq.Filter{Until: all[0].Time.Add(-time.Millisecond)}, nil},
	}
	// Time bounds are inclusive and select exactly the letters stored in the range.
	for _, k := range []int{1, 3} {
		var since, until []string
		for _, l := range all {
			if !l.Time.Before(all[k].Time) {
				since = append(since, l.Where)
			}
			if !l.Time.After(all[k].Time) {
				until = append(until, l.Where)
			}
		}
		cases = append(cases,
			struct {
				name string
				f    dlq.Filter
				want []string
			}{"since letter " + all[k].Where, dlq.Filter{Since: all[k].Time}, since},
			struct {
				name string
				f    dlq.Filter
				want []string
			}{"until letter " + all[k].Where, dlq.Filter{Until: all[k].Time}, until})
	}
	for _, c := range cases {
		got, err := dlq.List(ctx(t), s.JS, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var wheres []string
		for _, l := range got {
			wheres = append(wheres, l.Where)
		}
		if strings.Join(wheres, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: got %v, want %v", c.name, wheres, c.want)
		}
	}

	l, err := dlq.Get(ctx(t), s.JS, all[3].Seq)
	if err != nil || l.Where != "p1@9" || !bytes.Equal(l.Data, all[3].Data) || l.Reason != all[3].Reason {
		t.Errorf("Get(%d) = %+v, %v", all[3].Seq, l, err)
	}
	// The valid event never reached DEADLETTER, so a gap-free sequence past the end is absent.
	if _, err := dlq.Get(ctx(t), s.JS, l0+1); !errors.Is(err, dlq.ErrNotFound) {
		t.Errorf("Get past the end: %v, want ErrNotFound", err)
	}

	// Reading changed nothing: same messages, no consumer left behind.
	if m, f, l, c := streamState(t, s); m != m0 || f != f0 || l != l0 || c != c0 || c != 0 {
		t.Errorf("stream state changed by reading: %d %d %d %d, was %d %d %d %d", m, f, l, c, m0, f0, l0, c0)
	}
}

func TestListWithoutStream(t *testing.T) {
	s := bustest.StartServer(t) // no streams
	_, err := dlq.List(ctx(t), s.JS, dlq.Filter{})
	if err == nil || !strings.Contains(err.Error(), "DEADLETTER does not exist") {
		t.Errorf("List without the stream: %v", err)
	}
}

func TestStats(t *testing.T) {
	s := bustest.Start(t)
	seed(t, s)
	sum, err := dlq.Stats(ctx(t), s.JS, dlq.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	got := func(cs []dlq.Count) string {
		var b strings.Builder
		for _, c := range cs {
			b.WriteString(c.Key + "=" + strconv.Itoa(c.Count) + "; ")
		}
		return b.String()
	}
	if sum.Total != 5 || sum.First.After(sum.Last) || sum.First.IsZero() {
		t.Errorf("summary: %+v", sum)
	}
	if g := got(sum.BySource); g != "file=3; kafka.topic=1; kafka_topic=1; " {
		t.Errorf("by source: %s", g)
	}
	want := `kind: unknown kind "…" (want auth, access or directory)=2; not a JSON object=1; time: not an RFC 3339 time with offset=1; time: required=1; `
	if g := got(sum.ByReason); g != want {
		t.Errorf("by reason:\n got %s\nwant %s", g, want)
	}
	sum, err = dlq.Stats(ctx(t), s.JS, dlq.Filter{Source: "file", Limit: 2})
	if err != nil || sum.Total != 2 || got(sum.BySource) != "file=2; " {
		t.Errorf("stats of file, limit 2: %+v, %v", sum, err)
	}
}

func TestReasonKey(t *testing.T) {
	cases := map[string]string{
		`invalid event: not valid JSON: invalid character 'n' looking for beginning of value`: "not valid JSON",
		`invalid event: kind: unknown kind "x" (want auth, access or directory)`:              `kind: unknown kind "…" (want auth, access or directory)`,
		`invalid event: time: not an RFC 3339 time with offset: "yesterday"`:                  "time: not an RFC 3339 time with offset",
		`invalid event: user: "a: b" has no realm and no default organisation is configured`:  `user: "…" has no realm and no default organisation is configured`,
		`invalid event: id: required`:     "id: required",
		`invalid event: empty input`:      "empty input",
		``:                                "(no reason)",
		`invalid event: x: "unterminated`: `x: "unterminated`,
		`invalid event: f: ` + strings.Repeat("å", 100): "f: " + strings.Repeat("å", 46) + "…",
	}
	for in, want := range cases {
		if got := dlq.ReasonKey(in); got != want {
			t.Errorf("ReasonKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}
