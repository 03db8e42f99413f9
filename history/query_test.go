package history_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"breachd/event"
	"breachd/history"
)

// The breach of kari@o.no on 2 November: the window is that UTC day, [from, to).
var (
	qFrom = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	qTo   = time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	ask   = history.Asker{Who: "dpo@o.no", Why: "suspected breach", Incident: "INC-1"}
)

var queryData = []string{
	// auth: on the window's first millisecond (in), after its end (out), another user (out)
	`{"kind":"auth","id":"a6","time":"2026-11-02T00:00:00Z","org":"o.no","user":"kari@o.no","service":"https://sas","result":"success","method":"password","ip":"3.3.3.3","country":"NO"}`,
	`{"kind":"auth","id":"a1","time":"2026-11-02T08:00:00Z","org":"o.no","user":"kari@o.no","service":"https://lms","service_name":"LMS","result":"success","method":"password","ip":"1.1.1.1","country":"NO"}`,
	`{"kind":"auth","id":"a2","time":"2026-11-02T08:05:00Z","org":"o.no","user":"kari@o.no","service":"https://lms","service_name":"LMS","result":"failure","method":"password","ip":"2.2.2.2","country":"SE"}`,
	`{"kind":"auth","id":"a3","time":"2026-11-02T09:00:00Z","org":"o.no","user":"kari@o.no","service":"https://lms","service_name":"LMS","result":"success","method":"password","ip":"1.1.1.1","country":"NO"}`,
	`{"kind":"auth","id":"a4","time":"2026-11-02T10:00:00Z","org":"o.no","user":"kari@o.no","service":"https://mail","result":"success","method":"password","ip":"1.1.1.1","country":"NO"}`,
	`{"kind":"auth","id":"a5","time":"2026-11-03T00:00:00Z","org":"o.no","user":"kari@o.no","service":"https://lms","result":"success","method":"password","ip":"9.9.9.9","country":"US"}`,
	`{"kind":"auth","id":"a7","time":"2026-11-02T08:00:00Z","org":"o.no","user":"ola@o.no","service":"https://lms","result":"success","method":"password","ip":"4.4.4.4","country":"NO"}`,
	// access by kari (x5 is one millisecond before the window), and by nils
	`{"kind":"access","id":"x1","time":"2026-11-02T08:10:00Z","org":"o.no","actor":"kari@o.no","actor_role":"teacher","action":"view","subject":"ola@o.no","resource":"grades","service":"https://lms","records":1}`,
	`{"kind":"access","id":"x2","time":"2026-11-02T08:11:00Z","org":"o.no","actor":"kari@o.no","actor_role":"teacher","action":"view","subject":"ola@o.no","resource":"grades","service":"https://lms","records":3}`,
	`{"kind":"access","id":"x3","time":"2026-11-02T08:12:00Z","org":"o.no","actor":"kari@o.no","actor_role":"teacher","action":"export","subject":"per@o.no","resource":"grades","service":"https://lms","records":40}`,
	`{"kind":"access","id":"x4","time":"2026-11-02T08:13:00Z","org":"o.no","actor":"kari@o.no","actor_role":"teacher","action":"update","subject":"ola@o.no","resource":"absence","service":"https://lms","records":2}`,
	`{"kind":"access","id":"x5","time":"2026-11-01T23:59:59.999Z","org":"o.no","actor":"kari@o.no","actor_role":"teacher","action":"export","subject":"liv@o.no","resource":"grades","service":"https://lms","records":100}`,
	`{"kind":"access","id":"x6","time":"2026-11-02T09:00:00Z","org":"o.no","actor":"nils@o.no","actor_role":"admin","action":"view","subject":"ola@o.no","resource":"health","service":"https://lms"}`,
	// directory: kari joins a group; kari's guardianship of ola is blocked
	`{"kind":"directory","id":"d2","time":"2026-11-02T11:00:00Z","org":"o.no","op":"guardianship","guardian":"kari@o.no","child":"ola@o.no","status":"blocked"}`,
	`{"kind":"directory","id":"d1","time":"2026-11-02T07:00:00Z","org":"o.no","op":"membership","user":"kari@o.no","group":"fc:gogroup:o.no:u:NO1:8a:2026-08-15:2027-06-20","go_type":"u","role":"faculty","school":"NO1","change":"add"}`,
}

// loadQueryData writes the data set twice (a redelivery), which FINAL must collapse.
func loadQueryData(t *testing.T, s *history.Store) {
	t.Helper()
	evs := parse(t, queryData...)
	for i := 0; i < 2; i++ {
		if err := s.WriteEvents(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
}

func at(hh, mm int) time.Time { return time.Date(2026, 11, 2, hh, mm, 0, 0, time.UTC) }

func TestLogins(t *testing.T) {
	s := openStore(t)
	loadQueryData(t, s)
	got, err := s.Logins(context.Background(), ask, "kari@o.no", qFrom, qTo)
	if err != nil {
		t.Fatal(err)
	}
	want := []history.LoginRow{
		{Service: "https://sas", First: at(0, 0), Last: at(0, 0), Successes: 1, IPs: []string{"3.3.3.3"}, Countries: []string{"NO"}},
		{Service: "https://lms", ServiceName: "LMS", First: at(8, 0), Last: at(9, 0), Successes: 2, Failures: 1,
			IPs: []string{"1.1.1.1", "2.2.2.2"}, Countries: []string{"NO", "SE"}},
		{Service: "https://mail", First: at(10, 0), Last: at(10, 0), Successes: 1, IPs: []string{"1.1.1.1"}, Countries: []string{"NO"}},
	}
	for i := range got {
		got[i].First, got[i].Last = got[i].First.UTC(), got[i].Last.UTC()
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("logins:\n got %+v\nwant %+v", got, want)
	}
}

func TestAccess(t *testing.T) {
	s := openStore(t)
	loadQueryData(t, s)
	got, err := s.Access(context.Background(), ask, "kari@o.no", qFrom, qTo)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got.Rows {
		got.Rows[i].First, got.Rows[i].Last = got.Rows[i].First.UTC(), got.Rows[i].Last.UTC()
	}
	want := history.AccessSummary{
		Rows: []history.AccessRow{
			{Subject: "ola@o.no", Resource: "absence", Action: "update", Events: 1, Records: 2, First: at(8, 13), Last: at(8, 13)},
			{Subject: "ola@o.no", Resource: "grades", Action: "view", Events: 2, Records: 4, First: at(8, 10), Last: at(8, 11)},
			{Subject: "per@o.no", Resource: "grades", Action: "export", Events: 1, Records: 40, First: at(8, 12), Last: at(8, 12)},
		},
		ByResource: []history.AccessTotal{
			{Resource: "absence", People: 1, Records: 2, Events: 1},
			{Resource: "grades", People: 2, Records: 44, Events: 3},
		},
		Total: history.AccessTotal{People: 2, Records: 46, Events: 4},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("access:\n got %+v\nwant %+v", got, want)
	}
}

var wantSubject = []history.SubjectRow{
	{Actor: "kari@o.no", ActorRole: "teacher", Resource: "grades", Action: "view", Events: 2, Records: 4, First: at(8, 10), Last: at(8, 11)},
	{Actor: "kari@o.no", ActorRole: "teacher", Resource: "absence", Action: "update", Events: 1, Records: 2, First: at(8, 13), Last: at(8, 13)},
	{Actor: "nils@o.no", ActorRole: "admin", Resource: "health", Action: "view", Events: 1, Records: 1, First: at(9, 0), Last: at(9, 0)},
}

func subject(t *testing.T, s *history.Store) []history.SubjectRow {
	t.Helper()
	got, err := s.Subject(context.Background(), ask, "ola@o.no", qFrom, qTo)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i].First, got[i].Last = got[i].First.UTC(), got[i].Last.UTC()
	}
	return got
}

func TestSubject(t *testing.T) {
	s := openStore(t)
	loadQueryData(t, s)
	if got := subject(t, s); !reflect.DeepEqual(got, wantSubject) {
		t.Errorf("subject:\n got %+v\nwant %+v", got, wantSubject)
	}
}

// TestSubjectIndexMigration upgrades a history of schema version 4, in which a materialized
// view copied access events into access_by_subject: migration 5 drops the copy and indexes
// access_events by subject, and the lookup answers as before.
func TestSubjectIndexMigration(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	for _, q := range []string{ // back to version 4, as migration 2 left it
		"ALTER TABLE schema_migrations DELETE WHERE version = 5 SETTINGS mutations_sync = 2",
		"ALTER TABLE access_events DROP INDEX subject_bloom",
		`CREATE TABLE access_by_subject AS access_events ENGINE = ReplacingMergeTree
			PARTITION BY toYYYYMM(time) ORDER BY (subject, time, id)`,
		"CREATE MATERIALIZED VIEW access_by_subject_mv TO access_by_subject AS SELECT * FROM access_events",
	} {
		if err := s.Conn().Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	loadQueryData(t, s)
	if n, err := s.Migrate(ctx, 0); err != nil || n != 1 {
		t.Fatalf("Migrate applied %d, err %v; want 1, nil", n, err)
	}
	var copies, indexes uint64
	if err := s.Conn().QueryRow(ctx, `SELECT
		(SELECT count() FROM system.tables WHERE database = currentDatabase() AND name LIKE 'access_by_subject%'),
		(SELECT count() FROM system.data_skipping_indices WHERE database = currentDatabase() AND table = 'access_events' AND name = 'subject_bloom')`).
		Scan(&copies, &indexes); err != nil {
		t.Fatal(err)
	}
	if copies != 0 || indexes != 1 {
		t.Errorf("after migration 5: %d access_by_subject tables or views, %d subject indexes; want 0 and 1", copies, indexes)
	}
	if got := subject(t, s); !reflect.DeepEqual(got, wantSubject) {
		t.Errorf("subject after the migration:\n got %+v\nwant %+v", got, wantSubject)
	}
}

func TestTimeline(t *testing.T) {
	s := openStore(t)
	loadQueryData(t, s)
	got, err := s.Timeline(context.Background(), ask, "kari@o.no", qFrom, qTo, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range got {
		ids = append(ids, r.Kind+":"+r.ID)
	}
	want := "auth:a6 directory:d1 auth:a1 auth:a2 access:x1 access:x2 access:x3 access:x4 auth:a3 auth:a4 directory:d2"
	if strings.Join(ids, " ") != want {
		t.Errorf("timeline = %v\nwant %s", ids, want)
	}
	if len(got) == 11 {
		if r := got[6]; r.Action != "export" || r.Target != "per@o.no" || r.Resource != "grades" || r.Records != 40 || !r.Time.Equal(at(8, 12)) {
			t.Errorf("timeline access row = %+v", r)
		}
		if r := got[1]; r.Action != "membership add" || !strings.HasPrefix(r.Target, "fc:gogroup:") {
			t.Errorf("timeline directory row = %+v", r)
		}
		if r := got[3]; r.Action != "failure" || r.Target != "https://lms" || r.IP != "2.2.2.2" || r.Country != "SE" {
			t.Errorf("timeline auth row = %+v", r)
		}
		if r := got[10]; r.Action != "guardianship blocked" || r.Target != "ola@o.no" {
			t.Errorf("timeline guardianship row = %+v", r)
		}
	}
	got, err = s.Timeline(context.Background(), ask, "kari@o.no", qFrom, qTo, 3)
	if err != nil || len(got) != 3 || got[2].ID != "a1" {
		t.Errorf("timeline limit 3 = %+v, %v", got, err)
	}
}

func TestLookupValidation(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	cases := []struct {
		name     string
		ask      history.Asker
		account  string
		from, to time.Time
		want     string
	}{
		{"no account", ask, " ", qFrom, qTo, "account or person is required"},
		{"reversed", ask, "kari@o.no", qTo, qFrom, "must be before"},
		{"empty window", ask, "kari@o.no", qFrom, qFrom, "must be before"},
		{"zero from", ask, "kari@o.no", time.Time{}, qTo, "both ends"},
		{"too long", ask, "kari@o.no", qTo.Add(-401 * 24 * time.Hour), qTo, "maximum of 400 days"},
		{"no asker", history.Asker{Why: "x"}, "kari@o.no", qFrom, qTo, "who is asking"},
		{"no purpose", history.Asker{Who: "dpo"}, "kari@o.no", qFrom, qTo, "needs a purpose"},
	}
	for _, c := range cases {
		_, err := s.Logins(ctx, c.ask, c.account, c.from, c.to)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := s.Timeline(ctx, ask, "kari@o.no", qFrom, qTo, history.MaxTimelineLimit+1); err == nil {
		t.Error("timeline above the maximum limit: no error")
	}
	if rows, err := s.AuditLog(ctx, event.Everywhere, time.Unix(0, 0), time.Now().Add(time.Hour), 0, 0); err != nil || len(rows) != 0 {
		t.Errorf("refused lookups were audited: %+v, %v", rows, err)
	}
}

// TestLoginsBoundsDistinct: an account seen from many addresses lists at most MaxDistinct.
func TestLoginsBoundsDistinct(t *testing.T) {
	s := openStore(t)
	var lines []string
	for i := 0; i < 25; i++ {
		lines = append(lines, fmt.Sprintf(`{"kind":"auth","id":"m%d","time":"2026-11-02T10:%02d:00Z","org":"o.no","user":"many@o.no","service":"https://lms","result":"success","method":"password","ip":"10.0.0.%d","country":"NO"}`, i, i, i))
	}
	if err := s.WriteEvents(context.Background(), parse(t, lines...)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Logins(context.Background(), ask, "many@o.no", qFrom, qTo)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Successes != 25 || len(got[0].IPs) != history.MaxDistinct || len(got[0].Countries) != 1 {
		t.Errorf("logins = %+v, want 25 successes and %d of the 25 IPs", got, history.MaxDistinct)
	}
}
