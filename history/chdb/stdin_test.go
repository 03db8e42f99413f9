package chdb

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

const stdinEnv = "BREACHD_CHDB_TEST_STDIN_CHILD"

// insertThenReadStdin is the child of TestEngineLeavesStdinAlone: it opens the engine with a
// pipe on stdin, inserts with VALUES, then reads its own stdin.
func insertThenReadStdin(dir string) int {
	e, err := Open(DefaultLibPath(), dir)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer e.Close()
	// Finalizers of abandoned *os.File values for fd 0 would close it now, and the staged data
	// file of the TSV insert below would become fd 0.
	for range 3 {
		runtime.GC()
		time.Sleep(20 * time.Millisecond) // finalizers run on their own goroutine
	}
	ctx := context.Background()
	for _, q := range []string{"CREATE TABLE t (a UInt8) ENGINE = Memory", "INSERT INTO t VALUES (1), (2)", "INSERT INTO t FORMAT TSV\n3\n4\n"} {
		if _, err := e.Query(ctx, q, ""); err != nil {
			fmt.Println("error:", err)
			return 1
		}
	}
	n, err := e.Query(ctx, "SELECT count() FROM t", "TSV")
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	rest, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Printf("rows=%s stdin=%q\n", strings.TrimSpace(string(n)), rest)
	return 0
}

// TestEngineLeavesStdinAlone: chDB (clickhouse-local inside) reads a piped fd 0 as insert data,
// which swallowed the program's own input and made INSERT ... VALUES fail. Open must keep the
// engine away from it.
func TestEngineLeavesStdinAlone(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), stdinEnv+"="+t.TempDir())
	cmd.Stdin = strings.NewReader("line1\nline2\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(lastLine(string(out))), `rows=4 stdin="line1\nline2\n"`; got != want {
		t.Errorf("child said %q, want %q\nfull output:\n%s", got, want, out)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
