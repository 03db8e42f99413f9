package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStoreDamageExitAndReingest reproduces issue 15's silent loss: events ingested (and not
// yet processed: the first run is ingest only), then part of the EVENTS message block
// overwritten while breachd is stopped. The next start must refuse with exit status 3 and an
// Error log naming the lost sequences; the documented re-ingest (the same input with
// --accept-lost) must bring every event into history exactly once.
func TestStoreDamageExitAndReingest(t *testing.T) {
	day, data, want := crashSetup(t)
	run := func(args ...string) (string, string, int) {
		return breachd(t, nil, append([]string{"run", "--exit-when-done", "--data", data, "--metrics-addr", "", "--listen", ""}, args...)...)
	}
	if out, errs, code := run("--stages", "ingest", day); code != 0 {
		t.Fatalf("ingest: exit %d\n%s\n%s", code, out, errs)
	}
	blks, err := filepath.Glob(filepath.Join(data, "nats", "jetstream", "*", "streams", "EVENTS", "msgs", "*.blk"))
	if err != nil || len(blks) == 0 {
		t.Fatalf("no message block of EVENTS under %s (%v)", data, err)
	}
	blk := blks[len(blks)-1]
	fi, err := os.Stat(blk)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(blk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt(make([]byte, 50<<10), fi.Size()/3)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	_, errs, code := run()
	if code != exitLost {
		t.Fatalf("start on the damaged store: exit %d, want %d\n%s", code, exitLost, errs)
	}
	for _, want := range []string{`level=ERROR msg="NATS store damaged: messages lost"`, "stream=EVENTS", "not yet processed by the detectors are lost", "--accept-lost"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	restartAndCheck(t, day, data, want, "--accept-lost", "--listen", "")
}
