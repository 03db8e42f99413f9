package history_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"breachd/deploy"
	"breachd/event"
	"breachd/history"
	"breachd/output"
)

// openStore opens a fresh history: the embedded engine in a temp dir, or, when
// BREACHD_TEST_CLICKHOUSE_DSN is set, that ClickHouse server (use an empty database).
func openStore(t *testing.T) *history.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	in, err := deploy.StartHistoryOnly(ctx, deploy.InfraConfig{
		DataDir: filepath.Join(t.TempDir(), "data"), ClickHouseDSN: os.Getenv("BREACHD_TEST_CLICKHOUSE_DSN"), Logger: log,
	})
	if err != nil {
		t.Fatalf("open history: %v", err)
	}
	t.Cleanup(in.Close)
	return in.History
}

func parse(t *testing.T, lines ...string) []*event.Event {
	t.Helper()
	var out []*event.Event
	for _, l := range lines {
		e, err := event.Parse([]byte(l))
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		out = append(out, &e)
	}
	return out
}

var sample = []string{
	`{"kind":"directory","id":"d-2","time":"2026-11-01T22:00:01Z","org":"o.no","op":"membership","user":"kari@o.no","group":"fc:gogroup:o.no:u:NO1:8a-mat:2026-08-15:2027-06-20","go_type":"u","role":"faculty","school":"NO1","change":"add"}`,
	`{"kind":"directory","id":"d-1","time":"2026-11-01T22:00:00Z","org":"o.no","op":"person","user":"kari@o.no","affiliations":["faculty","employee"],"primary_affiliation":"faculty","schools":["NO1"],"nin_hash":"ab12","hidden_identity":true,"active":false}`,
	`{"kind":"directory","id":"d-3","time":"2026-11-01T22:00:02Z","org":"o.no","op":"guardianship","guardian":"idporten:hash:1","child":"ola@o.no","status":"blocked"}`,
	`{"kind":"auth","id":"a-1","time":"2026-11-02T08:01:13.120+01:00","org":"o.no","user":"kari@o.no","service":"https://lms","result":"success","method":"password","ip":"193.157.1.20","country":"NO"}`,
	`{"kind":"access","id":"x-1","time":"2026-11-02T08:03:50Z","org":"o.no","actor":"kari@o.no","actor_role":"teacher","action":"export","subject":"ola@o.no","resource":"grades","service":"https://lms","records":40}`,
}

func TestMigrateTwice(t *testing.T) {
	s := openStore(t) // StartHistoryOnly already migrated once
	n, err := s.Migrate(context.Background(), 0)
	if err != nil || n != 0 {
		t.Fatalf("second Migrate applied %d, err %v; want 0, nil", n, err)
	}
}

func TestWriteEventsIdempotentAndReplay(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	evs := parse(t, sample...)
	for i := 0; i < 2; i++ { // a redelivered batch
		if err := s.WriteEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth != 1 || c.Access != 1 || c.Directory != 3 {
		t.Errorf("counts after writing twice = %+v, want 1 auth, 1 access, 3 directory", c)
	}
	var records uint64
	var at time.Time
	if err := s.Conn().QueryRow(ctx, "SELECT records, time FROM access_events FINAL WHERE id = 'x-1'").Scan(&records, &at); err != nil {
		t.Fatal(err)
	}
	if records != 40 || !at.Equal(evs[4].Time) {
		t.Errorf("access row: records %d time %v, want 40 %v", records, at, evs[4].Time)
	}

	var got []*event.Event
	if _, err := s.ReplayDirectory(ctx, func(e *event.Event) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []*event.Event{evs[1], evs[0], evs[2]} // time order
	if len(got) != len(want) {
		t.Fatalf("replayed %d directory events, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := *want[i], *got[i]
		if w.Active == nil {
			w.Active = g.Active // absent means active; stored as true
		}
		norm := func(e *event.Event) {
			e.Time = e.Time.UTC()
			if len(e.Affiliations) == 0 {
				e.Affiliations = nil
			}
			if len(e.Schools) == 0 {
				e.Schools = nil
			}
		}
		norm(&w)
		norm(&g)
		if !reflect.DeepEqual(w, g) {
			t.Errorf("replayed event %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if *got[0].Active {
		t.Errorf("person written with active=false replayed as active")
	}
}

func TestUpsertIncidentKeepsHighestVersion(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	inc := &event.Incident{ID: "INC-20261102-0000abcd", Org: "o.no", Account: "kari@o.no", State: event.StateDetected,
		Severity: event.SeverityHigh, Rules: map[string]int64{"r1": 1}, Version: 1}
	for _, v := range []int64{1, 3, 2} {
		c := *inc
		c.Version = v
		c.AlertCount = v
		if err := s.UpsertIncident(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	var version, alerts uint64
	if err := s.Conn().QueryRow(ctx, "SELECT version, alert_count FROM incidents FINAL WHERE id = ?", inc.ID).Scan(&version, &alerts); err != nil {
		t.Fatal(err)
	}
	if version != 3 || alerts != 3 {
		t.Errorf("mirrored incident version %d alerts %d, want 3 3", version, alerts)
	}
}

func TestSQLReadOnly(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if err := s.WriteEvents(ctx, parse(t, sample...)); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"DROP TABLE auth_events",
		"INSERT INTO audit (actor) VALUES ('x')",
		"SELECT 1; DROP TABLE auth_events",
		"SELECT 1 INTO OUTFILE '/tmp/breachd-test-outfile'",
		"ALTER TABLE auth_events DELETE WHERE 1",
	} {
		if _, err := s.SQL(ctx, q, history.SQLLimits{}); !errors.Is(err, history.ErrNotReadOnly) {
			t.Errorf("%q: err = %v, want ErrNotReadOnly", q, err)
		}
	}
	// What passes the statement check still runs with readonly=1.
	if _, err := s.SQL(ctx, "SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')", history.SQLLimits{}); err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Errorf("url() table function: err = %v, want a readonly refusal", err)
	}
	tab, err := s.SQL(ctx, "SELECT user, count() AS n FROM auth_events GROUP BY user", history.SQLLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Rows) != 1 || tab.Rows[0][0] != "kari@o.no" || tab.Columns[1] != "n" {
		t.Errorf("result = %+v", tab)
	}
	var out strings.Builder
	if err := output.Write(&out, output.CSV, &output.Rows{Columns: tab.Columns, Rows: tab.Rows}); err != nil || out.String() != "user,n\nkari@o.no,1\n" {
		t.Errorf("csv = %q, %v", out.String(), err)
	}
	// Nullable values (a scalar subquery is Nullable) print as values, NULL as empty.
	tab, err = s.SQL(ctx, "SELECT (SELECT count() FROM auth_events) + 1 AS n, CAST(NULL AS Nullable(String)) AS none", history.SQLLimits{})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := output.Write(&out, output.CSV, &output.Rows{Columns: tab.Columns, Rows: tab.Rows}); err != nil || out.String() != "n,none\n2,\n" {
		t.Errorf("nullable csv = %q, %v", out.String(), err)
	}
	_, err = s.SQL(ctx, "SELECT number FROM system.numbers LIMIT 100", history.SQLLimits{MaxRows: 10})
	if err == nil || !strings.Contains(err.Error(), "raise the row limit") {
		t.Errorf("row limit: err = %v, want the limit with a hint", err)
	}
}
