package bus

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestLostHead(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	samples := []sample{{100, now.Add(-8 * day)}, {200, now.Add(-6 * day)}, {300, now.Add(-time.Hour)}}
	cases := []struct {
		name   string
		first  uint64
		maxAge time.Duration
		want   string // "" for none
	}{
		{"nothing gone", 50, 7 * day, ""},
		{"expired only", 150, 7 * day, ""},
		{"a young sample gone", 250, 7 * day, "200-249"},
		{"both young samples gone", 350, 7 * day, "200-349"},
		{"no retention: every sample gone counts", 150, 0, "100-149"},
	}
	for _, c := range cases {
		r, ok := lostHead(samples, c.first, c.maxAge, now)
		got := ""
		if ok {
			got = r.String()
		}
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestAddSampleThins(t *testing.T) {
	var s []sample
	t0 := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	for seq := uint64(1); seq <= 1000; seq++ {
		s = addSample(s, jetstream.StreamState{Msgs: seq, FirstSeq: 1, LastSeq: seq, LastTime: t0.Add(time.Duration(seq) * time.Second)})
	}
	if len(s) > maxSamples || len(s) < maxSamples/2 {
		t.Fatalf("%d samples, want %d to %d", len(s), maxSamples/2, maxSamples)
	}
	if s[len(s)-1].Seq != 1000 || s[0].Seq > 20 {
		t.Errorf("samples span %d-%d, want from the start to 1000", s[0].Seq, s[len(s)-1].Seq)
	}
	for i := 1; i < len(s); i++ {
		if s[i].Seq <= s[i-1].Seq {
			t.Fatalf("samples out of order at %d: %v", i, s[i-1:i+1])
		}
	}
	// The stream no longer holding the oldest: those samples go.
	s = addSample(s, jetstream.StreamState{Msgs: 500, FirstSeq: 501, LastSeq: 1000})
	if s[0].Seq < 501 {
		t.Errorf("sample %d kept below the first sequence 501", s[0].Seq)
	}
}
