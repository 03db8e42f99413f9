package rules

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// header is a valid rule up to (not including) its condition, at lines 1–6.
const header = `rules:
  - id: r1
    title: T
    severity: low
    when: [access]
`

func firstCompileError(t *testing.T, err error) *CompileError {
	t.Helper()
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *CompileError", err, err)
	}
	return ce
}

// Expression errors point at the offending character in the YAML file, whatever the scalar
// style.
func TestCompileErrorPosition(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string // appended to header; the condition starts on line 6
		line, col int
		msg       string
	}{
		{"plain", `    condition: event.Actorr == "x"`, 6, 22, "has no field Actorr"},
		{"double quoted", `    condition: "event.Actor == \"x\" && event.Nope"`, 6, 47, "has no field Nope"},
		{"single quoted", `    condition: 'event.Actor == ''x'' && event.Nope'`, 6, 47, "has no field Nope"},
		{"plain, multi-line", "    condition: event.Actor == \"x\"\n      && teaches(event.Actor, 1)", 7, 31, "cannot use int"},
		{"literal block", "    condition: |\n      event.Actor == \"x\"\n        && teaches(event.Actor, event.Records)", 8, 39, "cannot use int64"},
		{"folded block", "    condition: >\n      event.ActorRole == \"guardian\"\n      && guardianStatus(event.Actor) == \"\"", 8, 10, "not enough arguments"},
		{"syntax error", `    condition: event.Actor == `, 6, 29, "unexpected token EOF"},
		{"not a bool", `    condition: event.Actor`, 6, 16, "expected bool"},
		{"summary not a string", "    condition: true\n    summary: event.Records", 7, 14, "summary"},
		{"window without window", "    condition: window.count > 2", 6, 16, "defines no window"},
		{"unicode before the error", `    condition: event.Actor == "kari.lærer@x" && event.Nope`, 6, 55, "has no field Nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("r.yaml", []byte(header+tt.yaml+"\n"))
			ce := firstCompileError(t, err)
			if ce.File != "r.yaml" || ce.Rule != "r1" || ce.Line != tt.line || ce.Column != tt.col || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %s:%d:%d rule %q %q; want r.yaml:%d:%d rule r1 containing %q", ce.File, ce.Line, ce.Column, ce.Rule, ce.Msg, tt.line, tt.col, tt.msg)
			}
		})
	}
}

// Format errors name the file, the key and its position.
func TestStrictDecoding(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		line, col int
		msg       string
	}{
		{"unknown rule key", header + "    condition: true\n    conditon: true\n", 7, 5, `rule r1: unknown key "conditon" in rule`},
		{"unknown window key", header + "    condition: true\n    window: {key: event.Actor, over: 1m, cnt: 1}\n", 7, 42, `unknown key "cnt" in window`},
		{"unknown top key", "rulez: []\n", 1, 1, `unknown key "rulez"`},
		{"repeated key", header + "    condition: true\n    title: again\n", 7, 5, `key "title" repeated`},
		{"missing condition", header, 2, 5, `missing key "condition"`},
		{"bad severity", strings.Replace(header, "low", "urgent", 1) + "    condition: true\n", 4, 15, "severity"},
		{"bad kind", strings.Replace(header, "[access]", "[access, login]", 1) + "    condition: true\n", 5, 20, `unknown event kind "login"`},
		{"bad duration", header + "    condition: true\n    suppress: {key: event.Actor, for: 1 hour}\n", 7, 39, "not a duration"},
		{"bad respond", header + "    condition: true\n    respond: page\n", 7, 14, "respond"},
		{"bad id", strings.Replace(header, "r1", "R 1", 1) + "    condition: true\n", 2, 9, "id"},
		{"exception without reason", header + "    condition: true\n    exceptions: [{field: event.Actor, values: [a]}]\n", 7, 18, `missing key "reason"`},
		{"yaml syntax", "rules:\n  - id: a\n    b: c: d\n", 3, 0, "mapping values"},
		{"fixture event invalid", header + "    condition: true\n    tests:\n      - name: t\n        events:\n          - {kind: access, actor: a, actor_role: janitor, action: view, subject: s, resource: grades, service: x}\n        expect: 0\n", 10, 38, "actor_role"},
		{"fixture event typo", header + "    condition: true\n    tests:\n      - name: t\n        events:\n          - {kind: auth, user: a, service: s, result: success, recrods: 3}\n        expect: 0\n", 10, 64, `unknown event field "recrods"`},
		{"fixture unknown key", header + "    condition: true\n    tests:\n      - name: t\n        events: []\n        expected: 0\n", 10, 9, `unknown key "expected" in test`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("r.yaml", []byte(tt.yaml))
			ce := firstCompileError(t, err)
			if ce.File != "r.yaml" || ce.Line != tt.line || ce.Column != tt.col || !strings.Contains(ce.Error(), tt.msg) {
				t.Errorf("got %v (line %d col %d); want r.yaml:%d:%d containing %q", ce, ce.Line, ce.Column, tt.line, tt.col, tt.msg)
			}
		})
	}
}

func TestErrorsOfAllRulesAreReported(t *testing.T) {
	y := header + "    condition: event.A\n  - id: r2\n    title: T\n    severity: low\n    when: [auth]\n    condition: event.B\n"
	_, err := Parse("r.yaml", []byte(y))
	msg := err.Error()
	if !strings.Contains(msg, "r.yaml:6:22: rule r1") || !strings.Contains(msg, "r.yaml:11:22: rule r2") {
		t.Errorf("want both rules' errors with positions, got:\n%s", msg)
	}
}

func TestLoadDirectoryAndDuplicates(t *testing.T) {
	dir := t.TempDir()
	write := func(name, id string) {
		t.Helper()
		y := strings.Replace(header, "r1", id, 1) + "    condition: true\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "one")
	write("sub/../b.yml", "two")
	write("notes.txt", "ignored")
	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ids := set.Rules(); len(ids) != 2 || ids[0].ID != "one" || ids[1].ID != "two" || ids[0].File != filepath.Join(dir, "a.yaml") {
		t.Errorf("Load(dir) rules = %+v", ids)
	}
	write("c.yaml", "one")
	_, err = Load(dir)
	if ce := firstCompileError(t, err); ce.Rule != "one" || !strings.Contains(ce.Msg, "duplicate rule id") || !strings.Contains(ce.Msg, "a.yaml:2") {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || errors.As(err, new(*CompileError)) {
		t.Errorf("missing file: %v, want a plain error", err)
	}
}

func TestLoadFSAndMerge(t *testing.T) {
	fsys := fstest.MapFS{"x/local.yaml": {Data: []byte(strings.Replace(header, "r1", "local", 1) + "    condition: true\n")}}
	local, err := LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	def, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	all, err := Merge(def, local)
	if err != nil || all.Len() != def.Len()+1 {
		t.Fatalf("Merge: %v, len %d", err, all.Len())
	}
	if _, err := Merge(def, def); err == nil {
		t.Error("Merge of a set with itself: want duplicate id error")
	}
	r, ok := all.Rule("local")
	if !ok || r.File != "x/local.yaml" || r.Severity != "low" || len(r.When) != 1 {
		t.Errorf("Rule(local) = %+v, %v", r, ok)
	}
	r.Tags = append(r.Tags, "mutated")
	if again, _ := all.Rule("local"); len(again.Tags) != 0 {
		t.Error("Rule returned shared tags")
	}
}

// Rule files are outside input: Parse must fail with a *CompileError, never panic.
func FuzzParse(f *testing.F) {
	files, _ := fs.Glob(DefaultFS(), "*.yaml")
	for _, name := range files {
		data, err := fs.ReadFile(DefaultFS(), name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(header + "    condition: |\n      event.Actor ==\n        \"x\" && event.Nope\n"))
	f.Add([]byte(header + "    condition: \"event.Actor == \\u00e6\\\"x\\\" && event.Nope\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Parse("f.yaml", data)
		if err != nil {
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *CompileError", err, err)
			}
			return
		}
		_ = set.Rules()
	})
}
