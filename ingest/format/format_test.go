package format_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"breachd/event"
	"breachd/ingest"
	"breachd/ingest/format"
)

func TestLookup(t *testing.T) {
	if got, want := format.Names(), []string{"canonical", "ecs", "entra", "simplesamlphp"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	for _, n := range format.Names() {
		p, err := format.Lookup(" " + strings.ToUpper(n))
		if err != nil || p == nil {
			t.Errorf("Lookup(%q) = %v, %v", n, p, err)
		}
	}
	_, err := format.Lookup("syslog")
	if err == nil || !strings.Contains(err.Error(), `"syslog"`) || !strings.Contains(err.Error(), "simplesamlphp") {
		t.Errorf("Lookup(syslog) err = %v, want it to name the format and the known ones", err)
	}
}

func TestContentID(t *testing.T) {
	a := ingest.ContentID("x", []byte("line one"))
	if !strings.HasPrefix(a, "x-") || len(a) != 2+32 {
		t.Errorf("ContentID = %q, want x- and 32 hex digits", a)
	}
	for _, v := range []string{"line one\n", "line one\r\n", "line one\r\n\n"} {
		if got := ingest.ContentID("x", []byte(v)); got != a {
			t.Errorf("ContentID(%q) = %s, want %s (line endings are not content)", v, got, a)
		}
	}
	for _, v := range []string{"line one ", " line one", "line One"} {
		if got := ingest.ContentID("x", []byte(v)); got == a {
			t.Errorf("ContentID(%q) = ContentID(%q)", v, "line one")
		}
	}
	if ingest.ContentID("y", []byte("line one")) == a {
		t.Error("the prefix is not part of the id")
	}
}

func TestCanonical(t *testing.T) {
	p, err := format.Lookup("canonical")
	if err != nil {
		t.Fatal(err)
	}
	withID := `{"kind":"auth","id":"idp-1","time":"2026-11-02T08:01:13.120+01:00","org":"o","user":"u@o","service":"s","result":"success"}`
	ev, err := p([]byte(withID))
	if err != nil || ev.ID != "idp-1" {
		t.Fatalf("with id: %+v, %v", ev, err)
	}
	// Without a usable id: a content id over the canonical fields, the same for the same event
	// written differently, different for a different event.
	same := []string{
		`{"kind":"auth","time":"2026-11-02T08:01:13.120+01:00","org":"o","user":"u@o","service":"s","result":"success"}`,
		`{"result":"success","service":"s","user":"u@o","org":"o","time":"2026-11-02T07:01:13.12Z","kind":"auth","extra":1}`,
		` {"kind":"auth","id":"","time":"2026-11-02T08:01:13.120+01:00","org":"o","user":"u@o","service":"s","result":"success"} `,
		`{"kind":"auth","id":null,"time":"2026-11-02T08:01:13.120+01:00","org":"o","user":"u@o","service":"s","result":"success"}`,
		`{"kind":"auth","id":"  ","time":"2026-11-02T08:01:13.120+01:00","org":"o","user":"u@o","service":"s","result":"success"}`,
	}
	var first string
	for i, s := range same {
		ev, err := p([]byte(s))
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if !strings.HasPrefix(ev.ID, "c-") {
			t.Errorf("%s: id %q, want a c- content id", s, ev.ID)
		}
		if i == 0 {
			first = ev.ID
		} else if ev.ID != first {
			t.Errorf("%s: id %s, want %s", s, ev.ID, first)
		}
	}
	other, err := p([]byte(`{"kind":"auth","time":"2026-11-02T08:01:13.121+01:00","org":"o","user":"u@o","service":"s","result":"success"}`))
	if err != nil || other.ID == first {
		t.Errorf("a millisecond later: id %s, err %v; want another id", other.ID, err)
	}
	// Other faults are still reported as event.Parse reports them.
	for line, field := range map[string]string{
		`{"kind":"auth","time":"2026-11-02T08:01:13Z","org":"o","user":"u@o","service":"s"}`: "result",
		`{"kind":"auth","time":"2026-11-02T08:01:13Z"}`:                                      "org",
		`{"kind":"auth","id":7}`: "id",
		`{}`:                     "time",
		`not json`:               "",
	} {
		_, err := p([]byte(line))
		var ie *event.InvalidError
		if !errors.As(err, &ie) {
			t.Errorf("%s: err = %v, want *event.InvalidError", line, err)
			continue
		}
		if ie.Field != field {
			t.Errorf("%s: field %q, want %q (%v)", line, ie.Field, field, err)
		}
	}
}

// An access event's records default to 1, so writing "records": 1 or leaving it out is the
// same event and must get the same content id.
func TestEventIDRecordsDefault(t *testing.T) {
	a := event.Event{Kind: event.KindAccess, Actor: "a@o", Records: 0}
	b := a
	b.Records = 1
	if ingest.EventID("m", &a) != ingest.EventID("m", &b) {
		t.Error("records 0 (absent) and 1 give different ids")
	}
	b.Records = 2
	if ingest.EventID("m", &a) == ingest.EventID("m", &b) {
		t.Error("records 1 and 2 give the same id")
	}
}

// TestSelect: the format people name, a built-in one or a mapping file, for file input and
// dead-letter replay alike.
func TestSelect(t *testing.T) {
	const lms = "testdata/mappings/lms.yaml"
	for _, c := range []struct {
		name, mapping string
		check, want   bool // want: a format comes back
		err           string
	}{
		{"", "", false, true, ""},
		{"canonical", lms, false, true, ""},
		{"ecs", "", false, true, ""},
		{"ecs", lms, false, false, "exclude each other"},
		{"syslog", "", true, false, `unknown log format "syslog"`},
		{"", "testdata/mappings/missing.yaml", true, false, ""}, // check: the file is not read
		{"", "testdata/mappings/missing.yaml", false, false, "missing.yaml"},
	} {
		f, err := format.Select(c.name, c.mapping, c.check)
		if (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) || (f != nil) != c.want {
			t.Errorf("Select(%q, %q, %v) = %v, %v; want a format %v, error %q", c.name, c.mapping, c.check, f, err, c.want, c.err)
		}
	}
	if _, err := format.Select("ecs", lms, true); !errors.Is(err, format.ErrTwoFormats) {
		t.Errorf("two formats: %v, want ErrTwoFormats", err)
	}
	canonical, _ := format.Select("", "", false)
	ev, err := canonical.(ingest.Parser)([]byte(`{"kind":"auth","id":"a1","time":"2026-11-02T08:00:00Z","org":"x.no","user":"ola@x.no","service":"s","result":"success"}`))
	if err != nil || ev.ID != "a1" {
		t.Errorf("the default is canonical JSON: %+v, %v", ev, err)
	}
}
