package geoip

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/event"
	"breachd/promreg"
)

// DB is an open country database.
type DB struct {
	path    string
	r       *maxminddb.Reader
	lookups *prometheus.CounterVec
}

// record is the part of a country or city record Enrich reads.
type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
}

// Open opens the MaxMind DB file at path. It fails, naming the file, when the file is
// missing or unreadable, is not a MaxMind DB, or is a database without country data (ASN,
// ISP, anonymous IP).
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip: open %s: %w", path, err)
	}
	t := strings.ToLower(r.Metadata.DatabaseType)
	if !strings.Contains(t, "country") && !strings.Contains(t, "city") {
		_ = r.Close()
		return nil, fmt.Errorf("geoip: %s is a %q database, which has no country data (want a Country or City database)", path, r.Metadata.DatabaseType)
	}
	return &DB{path: path, r: r, lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "breach_geoip_lookups_total",
		Help: "IP to country lookups by outcome: found, not_found (no record or no country), invalid_ip, error.",
	}, []string{"outcome"})}, nil
}

// Register registers the DB's metrics with reg (breach_geoip_lookups_total{outcome}); DBs
// registered on one registry count in one counter. A nil reg registers nothing.
func (db *DB) Register(reg prometheus.Registerer) error {
	var err error
	if db.lookups, err = promreg.Register(reg, db.lookups); err != nil {
		return fmt.Errorf("geoip: register metrics: %w", err)
	}
	return nil
}

// Metadata returns the database type (e.g. "GeoLite2-Country") and when it was built.
func (db *DB) Metadata() (dbType string, built time.Time) {
	return db.r.Metadata.DatabaseType, db.r.Metadata.BuildTime()
}

// Country returns the ISO 3166-1 alpha-2 code (upper case) of ip, or "" when the database
// has none for it.
func (db *DB) Country(ip netip.Addr) (string, error) {
	var rec record
	if err := db.r.Lookup(ip.Unmap()).Decode(&rec); err != nil {
		return "", fmt.Errorf("geoip: look up %s in %s: %w", ip, db.path, err)
	}
	c := rec.Country.ISOCode
	if c == "" {
		c = rec.RegisteredCountry.ISOCode
	}
	if len(c) != 2 {
		return "", nil
	}
	return strings.ToUpper(c), nil
}

// Enrich sets ev.Country from ev.IP when ev has an IP and no country. It is an
// ingest.Enricher.
func (db *DB) Enrich(ev *event.Event) {
	if ev.IP == "" || ev.Country != "" {
		return
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(ev.IP))
	if err != nil {
		db.lookups.WithLabelValues("invalid_ip").Inc()
		return
	}
	c, err := db.Country(ip)
	switch {
	case err != nil: // a corrupt data section; the event goes on without a country
		db.lookups.WithLabelValues("error").Inc()
	case c == "":
		db.lookups.WithLabelValues("not_found").Inc()
	default:
		db.lookups.WithLabelValues("found").Inc()
		ev.Country = c
	}
}

// Close releases the file. Enrich must not be called after Close.
func (db *DB) Close() error {
	if err := db.r.Close(); err != nil {
		return fmt.Errorf("geoip: close %s: %w", db.path, err)
	}
	return nil
}
