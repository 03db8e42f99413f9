package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDLQ ingests a file with bad lines through `breachd run`, then inspects and repairs the
// dead letters with `breachd dlq` on the stopped instance's data directory.
func TestDLQ(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	saml, err := os.ReadFile("../../ingest/format/testdata/simplesamlphp/idp-rsyslog-rfc3339.log")
	if err != nil {
		t.Fatal(err)
	}
	samlLine := strings.SplitN(string(saml), "\n", 2)[0]
	input := samlLine + "\n" +
		"not json \x1b]0;pwned\x07\n" +
		`{"kind":"x","id":"1","time":"2026-11-02T08:00:00Z","org":"o.no"}` + "\n" +
		`{"kind":"auth","id":"a1","time":"2026-11-02T08:01:13Z","org":"o.no","user":"u@o.no","service":"s","result":"success"}` + "\n"
	in := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(in, []byte(input), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code := breachd(t, nil, "run", "--exit-when-done", "--data", data, "--metrics-addr", "", in)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errs)
	}

	// list --format json: the three bad lines, with source, location, reason and bytes.
	out, errs, code = breachd(t, nil, "dlq", "list", "--data", data, "--format", "json")
	if code != 0 {
		t.Fatalf("dlq list: exit %d: %s", code, errs)
	}
	var letters []struct {
		Seq                         uint64
		Source, Where, Reason, Data string
		ReasonGroup                 string `json:"reason_group"`
	}
	if err := json.Unmarshal([]byte(out), &letters); err != nil {
		t.Fatalf("dlq list output is not JSON: %v\n%s", err, out)
	}
	if len(letters) != 3 {
		t.Fatalf("dlq list: %d letters, want 3:\n%s", len(letters), out)
	}
	wantData := []string{samlLine, "not json \x1b]0;pwned\x07", `{"kind":"x","id":"1","time":"2026-11-02T08:00:00Z","org":"o.no"}`}
	for i, l := range letters {
		if l.Source != "file" || l.Where != "in.jsonl:"+strconv.Itoa([]int{1, 2, 3}[i]) || l.Data != wantData[i] || l.Reason == "" {
			t.Errorf("letter %d: %+v", i, l)
		}
	}
	if letters[2].ReasonGroup != `kind: unknown kind "…" (want auth, access or directory)` {
		t.Errorf("reason group: %q", letters[2].ReasonGroup)
	}
	out, _, code = breachd(t, nil, "dlq", "list", "--data", data, "--reason", "unknown KIND")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, "in.jsonl:3") {
		t.Errorf("dlq list --reason: exit %d\n%s", code, out)
	}

	// show escapes the terminal escape sequence; --raw writes the bytes as they are.
	seq := strconv.FormatUint(letters[1].Seq, 10)
	out, errs, code = breachd(t, nil, "dlq", "show", "--data", data, seq)
	if code != 0 || strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, `not json \x1b]0;pwned\x07`) ||
		!strings.Contains(out, "where:    in.jsonl:2") || !strings.Contains(out, "reason:   invalid event: not a JSON object") {
		t.Errorf("dlq show %s: exit %d\n%s%s", seq, code, out, errs)
	}
	out, _, code = breachd(t, nil, "dlq", "show", "--raw", "--data", data, seq)
	if code != 0 || out != wantData[1] {
		t.Errorf("dlq show --raw: exit %d, %q", code, out)
	}
	_, errs, code = breachd(t, nil, "dlq", "show", "--data", data, "999")
	if code != 1 || !strings.Contains(errs, "dead letter 999: no such dead letter") {
		t.Errorf("dlq show 999: exit %d, %s", code, errs)
	}

	// stats counts by source and by reason group.
	out, errs, code = breachd(t, nil, "dlq", "stats", "--data", data, "--format", "json")
	var sum struct {
		Total    int
		BySource []struct {
			Key   string
			Count int
		} `json:"by_source"`
		ByReason []struct {
			Key   string
			Count int
		} `json:"by_reason"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil {
		t.Fatalf("dlq stats: exit %d\n%s%s", code, out, errs)
	}
	if sum.Total != 3 || len(sum.BySource) != 1 || sum.BySource[0].Count != 3 || len(sum.ByReason) != 2 ||
		sum.ByReason[0].Key != "not a JSON object" || sum.ByReason[0].Count != 2 {
		t.Errorf("dlq stats: %+v", sum)
	}

	// replay --dry-run with the right format: one would be accepted, two rejected again (exit 1),
	// and nothing changes.
	out, errs, code = breachd(t, nil, "dlq", "replay", "--data", data, "--all", "--dry-run", "--format-in", "simplesamlphp")
	if code != 1 || !strings.Contains(out, "dry run, nothing published: 3 letters: 1 accepted, 2 rejected again, 0 skipped, 0 failed, 0 deleted") ||
		!strings.Contains(errs, "2 of 3 letters would be rejected again") {
		t.Errorf("dlq replay --dry-run: exit %d\n%s%s", code, out, errs)
	}
	// The real replay of the SimpleSAMLphp letter with --delete: accepted, removed, exit 0.
	first := strconv.FormatUint(letters[0].Seq, 10)
	out, errs, code = breachd(t, nil, "dlq", "replay", "--data", data, "--format-in", "simplesamlphp", "--delete", first)
	if code != 0 || !strings.Contains(out, first+"\tfile\tin.jsonl:1\taccepted (deleted)") {
		t.Errorf("dlq replay %s: exit %d\n%s%s", first, code, out, errs)
	}
	// A still-bad letter replayed as canonical: rejected again, exit 1, and not stored twice.
	out, errs, code = breachd(t, nil, "dlq", "replay", "--data", data, "--all")
	if code != 1 || !strings.Contains(out, "2 letters: 0 accepted, 2 rejected again") {
		t.Errorf("dlq replay --all: exit %d\n%s%s", code, out, errs)
	}
	out, _, code = breachd(t, nil, "dlq", "stats", "--data", data)
	if code != 0 || !strings.HasPrefix(out, "2 dead letters") {
		t.Errorf("dlq stats after the replays: exit %d\n%s", code, out)
	}
}

func TestDLQUsage(t *testing.T) {
	data := t.TempDir()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"dlq", "--help"}, 0, "breachd dlq replay --all --source file --format-in simplesamlphp --delete"},
		{[]string{"dlq"}, 2, "usage: breachd dlq list|show|stats|replay"},
		{[]string{"dlq", "purge"}, 2, `unknown dlq verb "purge"`},
		{[]string{"dlq", "show"}, 2, "usage: breachd dlq show"},
		{[]string{"dlq", "show", "x"}, 2, `"x" is not a dead-letter sequence number`},
		{[]string{"dlq", "list", "--format", "xml"}, 2, `"--format" flag: "xml" is not table or json`},
		{[]string{"dlq", "list", "--since", "last tuesday"}, 2, "--since:"},
		{[]string{"dlq", "replay"}, 2, "SEQ ... | --all"},
		{[]string{"dlq", "replay", "--all", "3"}, 2, "not both"},
		{[]string{"dlq", "replay", "--source", "file", "3"}, 2, "select letters for --all"},
		{[]string{"dlq", "replay", "--all", "--format-in", "syslog"}, 2, `unknown log format "syslog"`},
		{[]string{"dlq", "list", "--data", filepath.Join(data, "none")}, 1, "no breachd NATS data at"},
	}
	for _, c := range cases {
		out, errs, code := breachd(t, nil, c.args...)
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("breachd %v: exit %d, output %q; want exit %d containing %q", c.args, code, out+errs, c.code, c.want)
		}
	}
}
