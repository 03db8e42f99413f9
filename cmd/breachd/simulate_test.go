package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"breachd/event"
)

func TestSimulateFederation(t *testing.T) {
	out := filepath.Join(t.TempDir(), "fed.jsonl")
	_, errs, code := breachd(t, nil, "simulate", "--persons", "300", "--seed", "2", "-o", out)
	if code != 0 || !strings.Contains(errs, "300 persons") {
		t.Fatalf("simulate --persons: exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	persons := 0
	for i, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		e, err := event.Parse(l)
		if err != nil || e.Kind != event.KindDirectory {
			t.Fatalf("line %d: %v, kind %s", i+1, err, e.Kind)
		}
		if e.Op == event.OpPerson {
			persons++
		}
	}
	if persons != 300 {
		t.Errorf("%d person events, want 300", persons)
	}
	for _, args := range [][]string{{"--persons", "300", "--days", "2"}, {"--persons", "3"}, {"--persons", "0"}, {"--persons", "-5"}} {
		if _, errs, code := breachd(t, nil, append([]string{"simulate"}, args...)...); code != 2 || !strings.Contains(errs, "--") {
			t.Errorf("simulate %v: exit %d, %q; want a usage error", args, code, errs)
		}
	}
}
