package geoip_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/event"
	"breachd/ingest"
	"breachd/ingest/geoip"
)

// writeDB writes a small database of dbType to a temporary file: 193.157.0.0/16 and
// 2001:700::/32 in NO, 45.83.220.0/24 in "ng" (lower case, as a sloppy producer might write
// it), 8.8.8.0/24 with only a registered country (US), 1.1.1.0/24 with no country at all.
func writeDB(tb testing.TB, dbType string) string {
	tb.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24, BuildEpoch: 1793577600})
	if err != nil {
		tb.Fatal(err)
	}
	country := func(c string) mmdbtype.Map {
		return mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(c)}}
	}
	for cidr, rec := range map[string]mmdbtype.Map{
		"193.157.0.0/16": country("NO"),
		"2001:700::/32":  country("NO"),
		"45.83.220.0/24": country("ng"),
		"8.8.8.0/24":     {"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("US")}},
		"1.1.1.0/24":     {"continent": mmdbtype.Map{"code": mmdbtype.String("OC")}},
	} {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			tb.Fatal(err)
		}
		if err := tree.Insert(n, rec); err != nil {
			tb.Fatalf("insert %s: %v", cidr, err)
		}
	}
	path := filepath.Join(tb.TempDir(), "country.mmdb")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

func open(tb testing.TB) *geoip.DB {
	db, err := geoip.Open(writeDB(tb, "GeoLite2-Country"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

func TestEnrich(t *testing.T) {
	db := open(t)
	reg := prometheus.NewRegistry()
	if err := db.Register(reg); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, ip, country, want string
	}{
		{"IPv4 in NO", "193.157.1.20", "", "NO"},
		{"IPv6 in NO", "2001:700:1::5", "", "NO"},
		{"IPv4-mapped IPv6", "::ffff:193.157.1.20", "", "NO"},
		{"lower-case code is upper-cased", "45.83.220.14", "", "NG"},
		{"registered country when there is no country", "8.8.8.8", "", "US"},
		{"record without any country", "1.1.1.1", "", ""},
		{"address not in the database", "203.0.113.9", "", ""},
		{"country already set is kept", "193.157.1.20", "SE", "SE"},
		{"no IP", "", "", ""},
		{"not an IP", "193.157.1", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := event.Event{IP: c.ip, Country: c.country}
			db.Enrich(&ev)
			if ev.Country != c.want {
				t.Errorf("country = %q, want %q", ev.Country, c.want)
			}
		})
	}
	for outcome, want := range map[string]float64{"found": 5, "not_found": 2, "invalid_ip": 1} {
		if got := counter(t, reg, outcome); got != want {
			t.Errorf("lookups{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	typ, built := db.Metadata()
	if typ != "GeoLite2-Country" || !built.Equal(time.Unix(1793577600, 0)) {
		t.Errorf("Metadata = %q, %v", typ, built)
	}
}

// counter returns breach_geoip_lookups_total{outcome}, failing when it is not registered.
func counter(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "breach_geoip_lookups_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no breach_geoip_lookups_total{outcome=%q}", outcome)
	return 0
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.mmdb")
	_, err := geoip.Open(missing)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: err = %v, want not-exist naming %s", err, missing)
	}
	corrupt := filepath.Join(dir, "corrupt.mmdb")
	if err := os.WriteFile(corrupt, []byte(strings.Repeat("not a maxmind db ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := geoip.Open(corrupt); err == nil || !strings.Contains(err.Error(), corrupt) {
		t.Errorf("corrupt file: err = %v, want an error naming %s", err, corrupt)
	}
	// A valid file cut short is corrupt too.
	good, err := os.ReadFile(writeDB(t, "GeoLite2-Country"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.mmdb")
	if err := os.WriteFile(cut, good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := geoip.Open(cut); err == nil {
		t.Error("truncated file opened without error")
	}
	if _, err := geoip.Open(writeDB(t, "GeoLite2-ASN")); err == nil || !strings.Contains(err.Error(), "no country data") {
		t.Errorf("ASN database: err = %v, want no country data", err)
	}
	for _, typ := range []string{"DBIP-Country-Lite", "GeoIP2-City"} {
		db, err := geoip.Open(writeDB(t, typ))
		if err != nil {
			t.Errorf("%s: %v", typ, err)
			continue
		}
		_ = db.Close()
	}
}

// TestPipelineEnrich: an event without a country goes through the real Pipeline with the
// enricher and is stored with the country of its IP.
func TestPipelineEnrich(t *testing.T) {
	db := open(t)
	s := bustest.Start(t)
	pipe, err := ingest.NewPipeline(bus.NewPublisher(s.JS), s.Layout(t), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	pipe = pipe.WithEnricher(db.Enrich)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	line := `{"kind":"auth","id":"g-1","time":"2026-11-02T08:01:13Z","org":"o","user":"u@o","service":"s","result":"success","ip":"45.83.220.14"}`
	if _, err := pipe.Submit(ctx, ingest.Batch{Source: "test", Records: []ingest.Record{{Data: []byte(line)}}}); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages(t, bus.StreamEvents)
	if len(msgs) != 1 {
		t.Fatalf("EVENTS holds %d messages, want 1", len(msgs))
	}
	ev, err := event.Parse(msgs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Country != "NG" {
		t.Errorf("stored country = %q, want NG", ev.Country)
	}
}

func BenchmarkEnrich(b *testing.B) {
	db := open(b)
	ips := []string{"193.157.1.20", "2001:700:1::5", "45.83.220.14", "203.0.113.9"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ev := event.Event{IP: ips[i%len(ips)]}
		db.Enrich(&ev)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

func BenchmarkCountry(b *testing.B) {
	db := open(b)
	ip := netip.MustParseAddr("193.157.1.20")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.Country(ip); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}
