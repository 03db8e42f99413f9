package format_test

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"breachd/event"
	"breachd/ingest"
	"breachd/ingest/format"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// refNow is the reference clock of the SimpleSAMLphp golden tests: the sample lines are from
// early November 2026, and the "Dec 31" line must land in 2025.
var refNow = time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)

func oslo(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Fatalf("load Europe/Oslo: %v (install tzdata)", err)
	}
	return loc
}

// outcome renders what parse (with the pipeline's validation) does with one line: the
// canonical JSON of the event, "skip: reason" or "reject: reason".
func outcome(t testing.TB, parse ingest.Parser, line []byte) string {
	ev, err := parse(line)
	if err == nil {
		err = ev.Validate()
	}
	switch {
	case errors.Is(err, format.ErrSkip):
		return "skip: " + err.Error()
	case err != nil:
		var ie *event.InvalidError
		if !errors.As(err, &ie) {
			t.Errorf("error for %q is %T, want *event.InvalidError: %v", line, err, err)
		}
		return "reject: " + err.Error()
	}
	data, err := event.Marshal(&ev)
	if err != nil {
		t.Fatalf("marshal %+v: %v", ev, err)
	}
	return string(data)
}

// golden runs parse over every line of input and compares the outcomes with
// testdata/golden/<name>.golden (rewritten with -update).
func golden(t *testing.T, name, input string, parse ingest.Parser) []string {
	t.Helper()
	f, err := os.Open(input)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	var outcomes []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		o := outcome(t, parse, sc.Bytes())
		outcomes = append(outcomes, o)
		fmt.Fprintf(&out, "%d\t%s\n", n, o)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("%s differs from %s:\n--- got\n%s--- want\n%s", input, path, out.Bytes(), want)
	}
	return outcomes
}
