package chdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// ErrDataDirLocked is returned (wrapped) by Open when another process holds
// the data directory.
var ErrDataDirLocked = errors.New("chdb: data directory in use by another process")

// ErrOtherDataDir is returned (wrapped) by Open when the connect fails
// without another process holding the directory, which in practice means
// another data directory is already open in this process.
var ErrOtherDataDir = errors.New("chdb: cannot open a second data directory in one process")

// QueryError is an exception raised by the engine.
type QueryError struct {
	// Code is the ClickHouse error code (e.g. 60 for UNKNOWN_TABLE); 0 if
	// the text carried none.
	Code int
	// Name is the symbolic code (e.g. "UNKNOWN_TABLE"), if present.
	Name string
	// Message is the engine's full text: "Code: N. DB::Exception: ...".
	Message string
}

func (e *QueryError) Error() string { return e.Message }

var (
	codeRe = regexp.MustCompile(`^Code: (\d+)\. `)
	nameRe = regexp.MustCompile(`\(([A-Z][A-Z0-9_]+)\)`)
)

// parseQueryError turns chDB's error text into a *QueryError.
func parseQueryError(text string) *QueryError {
	text = strings.TrimSpace(text)
	qe := &QueryError{Message: text}
	if m := codeRe.FindStringSubmatch(text); m != nil {
		qe.Code, _ = strconv.Atoi(m[1])
	}
	if m := nameRe.FindAllStringSubmatch(text, -1); m != nil {
		qe.Name = m[len(m)-1][1] // the last one; "(version ...)" never matches
	}
	return qe
}

// newQueryError builds a *QueryError in the engine's own style for
// failures this package detects itself.
func newQueryError(code int, name, format string, args ...any) *QueryError {
	msg := fmt.Sprintf("Code: %d. DB::Exception: %s. (%s)", code, fmt.Sprintf(format, args...), name)
	return &QueryError{Code: code, Name: name, Message: msg}
}

// connectError explains why chdb_connect returned NULL for dir. chDB
// prints the reason to stderr only, so it is reconstructed from the status
// file ClickHouse keeps locked while a directory is open.
func connectError(dir string) error {
	status := filepath.Join(dir, "status")
	b, err := os.ReadFile(status)
	if err == nil {
		if pid, ok := statusPID(b); ok && pid != os.Getpid() && processAlive(pid) {
			return fmt.Errorf("%w: %s is held by process %d (Cannot lock file %s); "+
				"only one process may open a chDB data directory", ErrDataDirLocked, dir, pid, status)
		}
	}
	return fmt.Errorf("%w: chdb_connect(--path=%s) failed; chDB keeps one data directory per process, "+
		"so close every Engine on another directory first (details, if any, are on stderr)",
		ErrOtherDataDir, dir)
}

// statusPID reads "PID: n" from a ClickHouse status file.
func statusPID(b []byte) (int, bool) {
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PID: "); ok {
			pid, err := strconv.Atoi(strings.TrimSpace(v))
			return pid, err == nil && pid > 0
		}
	}
	return 0, false
}

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, os.ErrPermission)
}
