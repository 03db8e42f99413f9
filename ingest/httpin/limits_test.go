package httpin_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"breachd/bus"
	"breachd/ingest/httpin"
)

// Requests beyond a limit, or in a form the handler does not read, store nothing.
func TestLimits(t *testing.T) {
	e := newEnv(t, httpin.Config{MaxBody: 64 << 10, MaxRecords: 100})
	big, _ := lines("big", 400) // ~100 KiB
	many, _ := lines("many", 101)
	bomb := gz(t, bytes.Repeat([]byte(" "), 1<<20)) // 1 MiB of spaces in ~1 KiB
	for _, c := range []struct {
		name string
		rq   request
		code int
		want string
	}{
		{"body over the limit", request{contentType: "application/x-ndjson", body: ndjson(big)}, 413, "larger than 65536"},
		{"chunked body over the limit", request{contentType: "application/x-ndjson", body: ndjson(big), chunked: true}, 413, "larger than"},
		{"gzip decoding over the limit", request{contentType: "application/x-ndjson", encoding: "gzip", body: bomb}, 413, "larger than"},
		{"too many records, lines", request{contentType: "application/x-ndjson", body: ndjson(many)}, 413, "more than 100 records"},
		{"too many records, array", request{contentType: "application/json", body: array(many)}, 413, "more than 100 records"},
		{"unsupported type", request{contentType: "text/csv", body: []byte("a,b\n")}, 415, "text/csv"},
		{"unsupported encoding", request{contentType: "application/json", encoding: "br", body: []byte("x")}, 415, "br"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.rq.token = tokenA
			a := post(t, e.url, c.rq)
			if a.code != c.code || !strings.Contains(a.resp.Error, c.want) {
				t.Fatalf("%d %+v, want %d with an error containing %q", a.code, a.resp, c.code, c.want)
			}
		})
	}
	if n, d := e.bus.Count(t, bus.StreamEvents), e.bus.Count(t, bus.StreamDLQ); n != 0 || d != 0 {
		t.Fatalf("EVENTS %d, DEADLETTER %d after refused requests; want nothing stored", n, d)
	}
	// The service still answers after the refusals.
	if a := post(t, e.url, request{token: tokenA, body: ndjson(big[:10])}); a.code != 200 || a.resp.Accepted != 10 {
		t.Fatalf("after the limits: %d %+v", a.code, a.resp)
	}
}

// A record longer than MaxRecord is cut, dead-lettered and reported; the others are accepted.
func TestRecordTooLong(t *testing.T) {
	e := newEnv(t, httpin.Config{MaxRecord: 1024})
	long := `{"kind":"access","id":"long-1","pad":"` + strings.Repeat("x", 2000) + `"}`
	a := post(t, e.url, request{token: tokenA, contentType: "application/x-ndjson", body: ndjson([]string{line("ok-1"), long, line("ok-2")})})
	if a.code != 200 || a.resp.Accepted != 2 || a.resp.Rejected != 1 || len(a.resp.Errors) != 1 ||
		a.resp.Errors[0].Index != 1 || !strings.Contains(a.resp.Errors[0].Reason, "longer than 1024") {
		t.Fatalf("%d %+v", a.code, a.resp)
	}
	dlq := e.bus.Messages(t, bus.StreamDLQ)
	if len(dlq) != 1 || string(dlq[0].Data) != long[:1024] {
		t.Fatalf("DEADLETTER %d messages, want the first 1024 bytes of the long record", len(dlq))
	}
	wantOnce(t, e.bus, []string{"ok-1", "ok-2"})
}

// A body that cannot be split into records gets 400, and is itself kept as a dead letter.
func TestEnvelopeErrors(t *testing.T) {
	e := newEnv(t, httpin.Config{})
	broken := []byte(`[` + line("env-1") + `, {"kind":`)
	trailing := []byte(`[` + line("env-2") + `] {"more":1}`)
	badGzip := gz(t, []byte(line("env-3")))[:30] // cut inside the deflate stream
	for _, c := range []struct {
		name     string
		rq       request
		dlq      []byte // what must be stored; nil: nothing
		wantText string
	}{
		{"unterminated array", request{contentType: "application/json", body: broken}, broken, "not a JSON array"},
		{"data after the array", request{contentType: "application/json", body: trailing}, trailing, "after the closing"},
		{"broken gzip", request{contentType: "application/x-ndjson", encoding: "gzip", body: badGzip}, badGzip, "gzip"},
		{"empty body", request{contentType: "application/x-ndjson", body: []byte(" \n\n")}, nil, "empty body"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(e.bus.Messages(t, bus.StreamDLQ))
			c.rq.token = tokenA
			a := post(t, e.url, c.rq)
			if a.code != 400 || !strings.Contains(a.resp.Error, c.wantText) {
				t.Fatalf("%d %+v, want 400 naming %q", a.code, a.resp, c.wantText)
			}
			dlq := e.bus.Messages(t, bus.StreamDLQ)[before:]
			switch {
			case c.dlq == nil && len(dlq) != 0:
				t.Errorf("%d dead letters, want none", len(dlq))
			case c.dlq != nil && (len(dlq) != 1 || !bytes.Equal(dlq[0].Data, c.dlq) || a.resp.Rejected != 1):
				t.Errorf("dead letters %d (rejected %d), want the body as one", len(dlq), a.resp.Rejected)
			}
		})
	}
	if n := e.bus.Count(t, bus.StreamEvents); n != 0 {
		t.Errorf("EVENTS holds %d, want 0", n)
	}
}

// Requests beyond MaxInFlight get 429 with Retry-After while the others are being submitted.
func TestInFlightLimit(t *testing.T) {
	sink := &gateSink{entered: make(chan struct{}, 1), release: make(chan struct{})}
	url := serve(t, httpin.Config{MaxInFlight: 1, RetryAfter: 1500e6}, nil, sink)
	first := make(chan answer, 1)
	go func() {
		a, err := tryPost(url, request{token: tokenA, body: []byte(line("slow-1"))})
		if err != nil {
			a.code = -1
		}
		first <- a
	}()
	<-sink.entered // the first request holds the only slot
	a := post(t, url, request{token: tokenA, body: []byte(line("fast-1"))})
	if a.code != http.StatusTooManyRequests || a.hdr.Get("Retry-After") != "2" {
		t.Errorf("second request: %d, Retry-After %q; want 429 with Retry-After 2", a.code, a.hdr.Get("Retry-After"))
	}
	close(sink.release)
	if a := <-first; a.code != 200 || a.resp.Accepted != 1 {
		t.Fatalf("first request: %d %+v", a.code, a.resp)
	}
	if got := fmt.Sprint(sink.sources); got != "[http:lms]" {
		t.Errorf("submitted sources %s, want only the first request's", got)
	}
}
