package format_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"breachd/event"
	"breachd/ingest/format"
)

func TestMappingExamples(t *testing.T) {
	for _, name := range []string{"lms", "helsestasjon"} {
		t.Run(name, func(t *testing.T) {
			p, err := format.LoadMapping(filepath.Join("testdata", "mappings", name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "mapping-"+name, filepath.Join("testdata", "mappings", name+".jsonl"), p)
		})
	}
}

// Spot checks of the golden output that say why it is right.
func TestMappingLMS(t *testing.T) {
	p, err := format.LoadMapping("testdata/mappings/lms.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := p([]byte(`{"eventId":"e1","ts":"2026-11-02T09:00:00+01:00","tenant":"bergen.kommune.no","actor":{"upn":"kari@bergen.kommune.no","role":"ContactTeacher"},"operation":"EXPORT","category":"Note","targets":[{"id":"ola@bergen.kommune.no"},{"id":"per@bergen.kommune.no"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "e1" || ev.ActorRole != "contact_teacher" || ev.Action != "export" || ev.Resource != "wellbeing" ||
		ev.Subject != "ola@bergen.kommune.no" || ev.Records != 2 || ev.Time.Hour() != 8 || ev.Service != "https://lms.example.no/saml" {
		t.Errorf("got %+v", ev)
	}
	// A value missing from a map is rejected naming the source path.
	_, err = p([]byte(`{"eventId":"e2","ts":"2026-11-02T09:00:00Z","tenant":"o","actor":{"upn":"k@o","role":"Teacher"},"operation":"PURGE","category":"Grade","targets":[{"id":"s@o"}]}`))
	var ie *event.InvalidError
	if !errors.As(err, &ie) || ie.Field != "operation" || !strings.Contains(ie.Reason, `"PURGE"`) {
		t.Errorf("err = %v, want invalid operation naming PURGE", err)
	}
	// skip_if.
	if _, err := p([]byte(`{"operation":"HEARTBEAT"}`)); !errors.Is(err, format.ErrSkip) {
		t.Errorf("heartbeat: err = %v, want ErrSkip", err)
	}
}

func TestMappingTimeFormats(t *testing.T) {
	base := "name: t\nkind: auth\nfields:\n  org: {value: o}\n  user: {path: u}\n  service: {value: s}\n  result: {value: success}\n"
	cases := []struct {
		spec, in, want string
	}{
		{"{path: ts}", `"2026-11-02T08:00:00.5+01:00"`, "2026-11-02T07:00:00.5Z"},
		{"{path: ts, format: unix}", `1793606400`, "2026-11-02T08:00:00Z"},
		{"{path: ts, format: unix}", `"1793606400.25"`, "2026-11-02T08:00:00.25Z"},
		{"{path: ts, format: unix_ms}", `1793606400123`, "2026-11-02T08:00:00.123Z"},
		{`{path: ts, format: "2006-01-02 15:04:05", zone: Europe/Oslo}`, `"2026-07-01 12:00:00"`, "2026-07-01T10:00:00Z"},
		{`{expr: 'date(ts, "02/01/2006 15:04", "UTC")'}`, `"02/11/2026 08:00"`, "2026-11-02T08:00:00Z"},
	}
	for _, c := range cases {
		p, err := format.ParseMapping([]byte(base + "  time: " + c.spec + "\n"))
		if err != nil {
			t.Fatalf("%s: %v", c.spec, err)
		}
		ev, err := p([]byte(`{"u":"a@o","ts":` + c.in + `}`))
		if err != nil {
			t.Errorf("%s with %s: %v", c.spec, c.in, err)
			continue
		}
		data, _ := event.Marshal(&ev)
		if !strings.Contains(string(data), `"time":"`+c.want+`"`) {
			t.Errorf("%s with %s: %s, want time %s", c.spec, c.in, data, c.want)
		}
	}
}

// Bad mappings fail to load with the line of the fault.
func TestMappingErrors(t *testing.T) {
	good, err := os.ReadFile("testdata/mappings/lms.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, yaml, want string }{
		{"unknown key", strings.Replace(string(good), "  id:\n", "  id:\n    colour: red\n", 1), "line 9: field colour not found"},
		{"unknown field", strings.Replace(string(good), "  ip:\n", "  ipp:\n", 1), "line 45: fields.ipp: not a field of a access event"},
		{"map target not in enum", strings.Replace(string(good), "READ: view", "READ: veiw", 1), `line 27: fields.action.map.READ: "veiw" is not one of view`},
		{"constant not in enum", "name: x\nkind: auth\nfields:\n  time: {path: t}\n  org: {value: o}\n  user: {path: u}\n  service: {value: s}\n  result: {value: ok}\n", `line 8: fields.result.value: "ok" is not one of success, failure`},
		{"missing required field", strings.Replace(string(good), "  subject:\n    path: targets.0.id\n", "", 1), "fields: subject is required for kind access"},
		{"two sources", strings.Replace(string(good), "    path: tenant\n", "    path: tenant\n    value: x\n", 1), "line 12: fields.org: set exactly one of path, value and expr"},
		{"expr syntax", strings.Replace(string(good), "expr: len(targets)", "expr: len(targets", 1), "line 44: fields.records.expr: unexpected token EOF"},
		{"skip_if not bool", strings.Replace(string(good), `skip_if: operation in ["LOGIN", "HEARTBEAT"]`, `skip_if: len(operation)`, 1), "line 6: skip_if: expected bool"},
		{"layout without zone", strings.Replace(string(good), "    path: ts ", "    format: \"2006-01-02\"\n    path: ts ", 1), "fields.time.format: a custom layout needs a zone"},
		{"bad zone", strings.Replace(string(good), "    path: ts ", "    format: \"2006-01-02\"\n    zone: Mars/Olympus\n    path: ts ", 1), "fields.time.zone: unknown time zone Mars/Olympus"},
		{"zone on another field", strings.Replace(string(good), "    path: tenant\n", "    path: tenant\n    zone: UTC\n", 1), "line 12: fields.org: format and zone apply only to time"},
		{"bad kind", strings.Replace(string(good), "kind: access", "kind: directory", 1), `line 5: kind: "directory" is not access or auth`},
		{"bad name", strings.Replace(string(good), "name: lms", "name: LMS audit", 1), `line 4: name: "LMS audit" must be`},
		{"empty path segment", strings.Replace(string(good), "path: targets.0.id", "path: targets..id", 1), `line 29: fields.subject.path: "targets..id" has an empty segment`},
		{"not yaml", "name: [", "yaml:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := format.ParseMapping([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
	// LoadMapping names the file.
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(path, []byte("name: x\nkind: auth\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := format.LoadMapping(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want it to name %s", err, path)
	}
	if _, err := format.LoadMapping(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: err = %v", err)
	}
}
