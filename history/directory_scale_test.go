package history_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"breachd/bus/bustest"
	"breachd/deploy"
	"breachd/directory"
	"breachd/event"
	"breachd/simulate"
)

// Environment of TestDirectoryRebuildScale.
const (
	// envScale sets the federation's persons (default 2 000; Feide's size is 1300000).
	envScale = "BREACHD_DIRECTORY_SCALE"
	// envRebuild, set by the test for its own child process, names the data directory to
	// rebuild from and carries the expected answers (a rebuildCheck as JSON).
	envRebuild = "BREACHD_DIRECTORY_REBUILD"
)

// rebuildCheck is what the rebuilding process is told to expect, and what it reports.
type rebuildCheck struct {
	DataDir                                     string
	Persons, Memberships, Guardianships, Events int64
	Teacher, Pupil, Group, Guardian, Child      string
	// Reported by the child.
	Rows            int64
	Seconds, RowsPS float64
	CPUMicrosPerRow float64 // the process's CPU time (the embedded engine's included) per row
	PeakRSSMB       float64
	Err             string
}

// TestDirectoryRebuildScale measures the detector's start at scale: it generates a federation
// (simulate.RunFederation), writes it to history in the embedded engine (its first 100 000
// events twice, as a redelivered batch), then, in a process of its own (this test binary,
// re-run), rebuilds a catalogue from history as the detector does (directory.Load of
// Store.ReplayDirectory) and reports the rows, load time, rows/s and the
// process's peak RSS (VmHWM). It asserts only what the catalogue answers:
//
//	BREACHD_DIRECTORY_SCALE=1300000 setsid go test -count=1 -v -timeout 30m -run TestDirectoryRebuildScale ./history/
func TestDirectoryRebuildScale(t *testing.T) {
	if v := os.Getenv(envRebuild); v != "" {
		rebuildChild(t, v)
		return
	}
	persons := 2_000
	if v := os.Getenv(envScale); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", envScale, v, err)
		}
		persons = n
	}
	ctx := context.Background()
	dataDir := filepath.Join(t.TempDir(), "data")
	in, err := deploy.StartHistoryOnly(ctx, deploy.InfraConfig{DataDir: dataDir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open history: %v", err)
	}
	want := rebuildCheck{DataDir: dataDir}
	start := time.Now()
	var batch []*event.Event
	written := 0
	flush := func() error {
		err := in.History.WriteEvents(ctx, batch)
		if written == 0 && err == nil { // the first batch redelivered: its rows are stored twice
			err = in.History.WriteEvents(ctx, batch)
		}
		written += len(batch)
		batch = batch[:0]
		return err
	}
	size, err := simulate.RunFederation(ctx, simulate.Federation{Seed: 1, Persons: persons}, func(e *event.Event) error {
		note(&want, e)
		if batch = append(batch, e); len(batch) == 100_000 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	in.Close()
	if err != nil {
		t.Fatalf("write the federation: %v", err)
	}
	want.Persons, want.Memberships, want.Guardianships, want.Events = int64(size.Persons), size.Memberships, size.Guardianships, size.Events
	t.Logf("wrote %d events (%d persons, %d memberships, %d guardianships) in %s", size.Events, size.Persons, size.Memberships,
		size.Guardianships, time.Since(start).Round(time.Millisecond))

	arg, _ := json.Marshal(want)
	cmd := exec.Command(os.Args[0], "-test.run=^TestDirectoryRebuildScale$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envRebuild+"="+string(arg))
	out, err := cmd.CombinedOutput()
	var got rebuildCheck
	for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "rebuild: "); ok {
			if jerr := json.Unmarshal([]byte(v), &got); jerr != nil {
				t.Fatalf("child report %q: %v", v, jerr)
			}
		}
	}
	if err != nil || got.Err != "" || got.Rows == 0 {
		t.Fatalf("rebuild process: %v %s\n%s", err, got.Err, out)
	}
	t.Logf("rebuilt %d persons, %d memberships, %d guardianships from %d rows in %.1f s (%.0f rows/s, %.1f µs CPU a row), peak RSS %.0f MB",
		got.Persons, got.Memberships, got.Guardianships, got.Rows, got.Seconds, got.RowsPS, got.CPUMicrosPerRow, got.PeakRSSMB)
}

// note remembers the federation's first teacher–pupil pair of a group and its first
// guardianship, for the rebuilt catalogue to answer.
func note(c *rebuildCheck, e *event.Event) {
	switch {
	case e.Op == event.OpMembership && c.Group == "" && e.Role == directory.RoleFaculty:
		c.Group, c.Teacher = e.Group, e.User
	case e.Op == event.OpMembership && c.Pupil == "" && e.Group == c.Group && e.Role == directory.RoleStudent:
		c.Pupil = e.User
	case e.Op == event.OpGuardianship && c.Guardian == "":
		c.Guardian, c.Child = e.Guardian, e.Child
	}
}

// rebuildChild is the rebuilding process: it reports on stdout (a "rebuild: " JSON line).
func rebuildChild(t *testing.T, arg string) {
	var c rebuildCheck
	if err := json.Unmarshal([]byte(arg), &c); err != nil {
		t.Fatalf("%s: %v", envRebuild, err)
	}
	if err := rebuild(t, &c); err != nil {
		c.Err = err.Error()
	}
	b, _ := json.Marshal(c)
	fmt.Printf("rebuild: %s\n", b)
}

func rebuild(tb testing.TB, c *rebuildCheck) error {
	ctx := context.Background()
	in, err := deploy.StartHistoryOnly(ctx, deploy.InfraConfig{DataDir: c.DataDir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("open history: %w", err)
	}
	defer in.Close()
	start, cpu0 := time.Now(), bustest.CPU(tb)
	dir := directory.New()
	n, err := dir.Load(func(apply func(*event.Event) error) (int, error) { return in.History.ReplayDirectory(ctx, apply) })
	if err != nil {
		return err
	}
	c.Seconds = time.Since(start).Seconds()
	c.CPUMicrosPerRow = float64((bustest.CPU(tb) - cpu0).Microseconds()) / float64(max(n, 1))
	c.Rows, c.RowsPS = int64(n), float64(n)/c.Seconds
	if c.PeakRSSMB, err = peakRSSMB(); err != nil {
		return err
	}
	st := dir.Stats()
	var errs []string
	if int64(st.Persons) != c.Persons || int64(st.Memberships) != c.Memberships || int64(st.Guardianships) != c.Guardianships || c.Rows != c.Events {
		errs = append(errs, fmt.Sprintf("catalogue %+v from %d rows, want %d persons, %d memberships, %d guardianships from %d events",
			st, c.Rows, c.Persons, c.Memberships, c.Guardianships, c.Events))
	}
	if !dir.Teaches(c.Teacher, c.Pupil) || dir.Teaches(c.Pupil, c.Teacher) {
		errs = append(errs, fmt.Sprintf("Teaches(%s, %s) false, or true the other way", c.Teacher, c.Pupil))
	}
	if role, ok := dir.IsMember(c.Pupil, c.Group); !ok || role != directory.RoleStudent {
		errs = append(errs, fmt.Sprintf("IsMember(%s, %s) = %q, %v", c.Pupil, c.Group, role, ok))
	}
	if s := dir.GuardianStatus(c.Guardian, c.Child); s != directory.StatusActive {
		errs = append(errs, fmt.Sprintf("GuardianStatus(%s, %s) = %q", c.Guardian, c.Child, s))
	}
	if p, ok := dir.Person(c.Pupil); !ok || p.BasisStudentGroups != 1 || p.StudentGroups != 9 || len(p.NINHash) != 64 {
		errs = append(errs, fmt.Sprintf("Person(%s) = %+v, %v", c.Pupil, p, ok))
	}
	c.Persons, c.Memberships, c.Guardianships = int64(st.Persons), int64(st.Memberships), int64(st.Guardianships)
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// peakRSSMB is the process's peak resident set size (VmHWM of /proc/self/status) in MB.
func peakRSSMB() (float64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("peak RSS: %w (the measurement needs Linux)", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("peak RSS: no VmHWM in /proc/self/status")
}
