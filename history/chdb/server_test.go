package chdb

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

const eventsDDL = `CREATE TABLE events (
	t     DateTime64(3, 'UTC'),
	user  LowCardinality(String),
	kind  LowCardinality(String),
	ip    Nullable(String),
	tags  Array(String),
	attrs Map(String, String),
	n     UInt64,
	ok    Bool
) ENGINE = MergeTree
ORDER BY (user, t)
TTL toDateTime(t) + INTERVAL 30 DAY`

// event is one row of the events table.
type event struct {
	T     time.Time
	User  string
	Kind  string
	IP    *string
	Tags  []string
	Attrs map[string]string
	N     uint64
	OK    bool
}

// genEvents makes n deterministic rows starting at base. Values are chosen
// so the Native body is full of "\n\n" (0x0A 0x0A), which chDB would cut
// if the data were sent inline.
func genEvents(base time.Time, n int) []event {
	users := []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6"}
	kinds := []string{"login", "grade.read", "export\n\n"}
	out := make([]event, n)
	for i := range out {
		e := event{
			T:     base.Add(time.Duration(i) * time.Millisecond),
			User:  users[i%len(users)],
			Kind:  kinds[i%len(kinds)],
			Tags:  []string{},
			Attrs: map[string]string{"k": fmt.Sprint(i % 11)},
			N:     uint64(i) * 0x0A0A0A0A0A0A0A0A,
			OK:    i%3 == 0,
		}
		if i%5 != 0 {
			ip := fmt.Sprintf("10.0.%d.%d", i/256%256, i%256)
			e.IP = &ip
		}
		for j := 0; j < i%4; j++ {
			e.Tags = append(e.Tags, fmt.Sprintf("tag%d", j))
		}
		if i%2 == 1 {
			e.Attrs["blank"] = "\n\n"
		}
		out[i] = e
	}
	return out
}

func insertEvents(tb testing.TB, conn driver.Conn, events []event) {
	tb.Helper()
	ctx := context.Background()
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO events")
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range events {
		if err := batch.Append(e.T, e.User, e.Kind, e.IP, e.Tags, e.Attrs, e.N, e.OK); err != nil {
			tb.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		tb.Fatal(err)
	}
}

func TestClickHouseGoEndToEnd(t *testing.T) {
	ts := startServer(t, Options{})
	conn := ts.conn(t)
	ctx := context.Background()

	// (a) DDL with DateTime64, LowCardinality and TTL.
	if err := conn.Exec(ctx, eventsDDL); err != nil {
		t.Fatal(err)
	}
	var engineFull string
	if err := conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE name = 'events'").Scan(&engineFull); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(engineFull, "TTL toDateTime(t) + toIntervalDay(30)") {
		t.Errorf("TTL missing: %s", engineFull)
	}

	// (b) batch insert of 100 000 rows, then count and checksums.
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	events := genEvents(base, 100_000)
	insertEvents(t, conn, events)
	var want struct {
		sumN                  uint64
		oks, tags, nulls, kvs uint64
		millis                int64
	}
	for _, e := range events {
		want.sumN += e.N
		want.tags += uint64(len(e.Tags))
		want.kvs += uint64(len(e.Attrs))
		want.millis += e.T.UnixMilli()
		if e.OK {
			want.oks++
		}
		if e.IP == nil {
			want.nulls++
		}
	}
	var count, sumN, oks, tags, nulls, kvs, users uint64
	var millis int64
	err := conn.QueryRow(ctx, `SELECT count(), sum(n), countIf(ok), sum(length(tags)), countIf(ip IS NULL),
		sum(length(attrs)), sum(toUnixTimestamp64Milli(t)), uniqExact(user) FROM events`).
		Scan(&count, &sumN, &oks, &tags, &nulls, &kvs, &millis, &users)
	if err != nil {
		t.Fatal(err)
	}
	if count != 100_000 {
		t.Errorf("count() = %d, want 100000", count)
	}
	got := []any{sumN, oks, tags, nulls, kvs, millis, users}
	exp := []any{want.sumN, want.oks, want.tags, want.nulls, want.kvs, want.millis, uint64(7)}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("checksums %v, want %v", got, exp)
	}

	// (c) parameterised selects, both ways clickhouse-go passes parameters.
	from := base.Add(50 * time.Second)
	var wantRows []event
	for _, e := range events {
		if e.User == "u3" && !e.T.Before(from) && len(wantRows) < 5 {
			wantRows = append(wantRows, e)
		}
	}
	const q = `SELECT t, user, kind, ip, tags, attrs, n, ok FROM events
		WHERE user = {u:String} AND t >= {from:DateTime64(3)} ORDER BY t LIMIT 5`
	withParams := clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{
		"u": "u3", "from": from.Format("2006-01-02 15:04:05.000"),
	}))
	for name, run := range map[string]func() (driver.Rows, error){
		"WithParameters": func() (driver.Rows, error) { return conn.Query(withParams, q) },
		"Named": func() (driver.Rows, error) {
			return conn.Query(ctx, q, clickhouse.Named("u", "u3"), clickhouse.Named("from", from))
		},
	} {
		rows, err := run()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := scanEvents(t, rows); !reflect.DeepEqual(got, wantRows) {
			t.Errorf("%s: got %+v\nwant %+v", name, got, wantRows)
		}
	}
}

func scanEvents(t *testing.T, rows driver.Rows) []event {
	t.Helper()
	defer rows.Close()
	var out []event
	for rows.Next() {
		var e event
		if err := rows.Scan(&e.T, &e.User, &e.Kind, &e.IP, &e.Tags, &e.Attrs, &e.N, &e.OK); err != nil {
			t.Fatal(err)
		}
		e.T = e.T.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestClickHouseGoWireFacts pins what clickhouse-go's HTTP transport sends,
// which the endpoint's design relies on (see design.md "History").
func TestClickHouseGoWireFacts(t *testing.T) {
	ts := startServer(t, Options{})
	conn := ts.conn(t)
	if v, err := conn.ServerVersion(); err != nil || v.Revision != 0 || v.Version.Major != 26 {
		t.Errorf("server version as the client sees it: %+v %v", v, err)
	}
	ctx := clickhouse.Context(context.Background(),
		clickhouse.WithParameters(clickhouse.Parameters{"x": "1"}),
		clickhouse.WithSettings(clickhouse.Settings{"max_result_rows": 10}))
	if err := conn.QueryRow(ctx, "SELECT {x:UInt8}").Scan(new(uint8)); err != nil {
		t.Fatal(err)
	}
	seen := ts.logs.seen()
	if len(seen) == 0 {
		t.Fatal("no requests logged")
	}
	for _, keys := range seen {
		t.Logf("clickhouse-go sent URL params: %v", keys)
		for _, k := range []string{"default_format", "client_protocol_version"} {
			if !slices.Contains(keys, k) {
				t.Errorf("request without %s: %v", k, keys)
			}
		}
	}
	if last := seen[len(seen)-1]; !slices.Contains(last, "param_x") || !slices.Contains(last, "max_result_rows") {
		t.Errorf("parameters/settings not sent as URL params: %v", last)
	}
}

// BenchmarkInsertNative measures batch inserts of 100 000 rows through the
// endpoint: clickhouse-go PrepareBatch/Append/Send over HTTP, the Native
// body staged to a file, INSERT ... FROM INFILE. rows/s counts the whole
// batch (DESCRIBE, Append, Send); send_rows/s only Send (HTTP + engine).
func BenchmarkInsertNative(b *testing.B) {
	ts := startServer(b, Options{})
	conn := ts.conn(b)
	ctx := context.Background()
	if err := conn.Exec(ctx, eventsDDL); err != nil {
		b.Fatal(err)
	}
	const rows = 100_000
	events := genEvents(testBase(), rows)
	var total, sending time.Duration
	for b.Loop() {
		start := time.Now()
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO events")
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range events {
			if err := batch.Append(e.T, e.User, e.Kind, e.IP, e.Tags, e.Attrs, e.N, e.OK); err != nil {
				b.Fatal(err)
			}
		}
		sendStart := time.Now()
		if err := batch.Send(); err != nil {
			b.Fatal(err)
		}
		sending += time.Since(sendStart)
		total += time.Since(start)
	}
	b.ReportMetric(float64(b.N*rows)/total.Seconds(), "rows/s")
	b.ReportMetric(float64(b.N*rows)/sending.Seconds(), "send_rows/s")
}

// BenchmarkPointQuery measures one parameterised point query through
// clickhouse-go over the endpoint.
func BenchmarkPointQuery(b *testing.B) {
	ts := startServer(b, Options{})
	conn := ts.conn(b)
	ctx := context.Background()
	if err := conn.Exec(ctx, eventsDDL); err != nil {
		b.Fatal(err)
	}
	events := genEvents(testBase(), 100_000)
	insertEvents(b, conn, events)
	want := events[54_321]
	b.ResetTimer()
	for b.Loop() {
		var n uint64
		err := conn.QueryRow(ctx, "SELECT n FROM events WHERE user = {u:String} AND t = {t:DateTime64(3)}",
			clickhouse.Named("u", want.User), clickhouse.Named("t", want.T)).Scan(&n)
		if err != nil || n != want.N {
			b.Fatalf("n = %d, want %d: %v", n, want.N, err)
		}
	}
}

// BenchmarkEngineQuery measures the engine alone (fresh session per call).
func BenchmarkEngineQuery(b *testing.B) {
	e := openEngine(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := e.Query(ctx, "SELECT 1", ""); err != nil {
			b.Fatal(err)
		}
	}
}
