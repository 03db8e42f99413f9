package chdb

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

var detachStdin = sync.OnceValue(func() error {
	// fd 0 is handed to the library only as /dev/null; the process keeps its real stdin on a
	// new descriptor behind os.Stdin.
	fd, err := unix.FcntlInt(0, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		if err == unix.EBADF { // no stdin at all: give the library /dev/null and be done
			fd = -1
		} else {
			return fmt.Errorf("chdb: move stdin away from the engine: %w", err)
		}
	}
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("chdb: open /dev/null: %w", err)
	}
	defer unix.Close(null)
	if err := unix.Dup2(null, 0); err != nil {
		return fmt.Errorf("chdb: put /dev/null on fd 0: %w", err)
	}
	if fd >= 0 {
		// The old *os.File for fd 0 must stay reachable: its finalizer would close fd 0, and
		// the next file anyone opens (chDB's staged insert data) would land on fd 0, which
		// chDB reads as stdin.
		fd0 = os.Stdin
		os.Stdin = os.NewFile(uintptr(fd), "/dev/stdin")
	}
	return nil
})

// fd0 keeps the original os.Stdin (now /dev/null on fd 0) from being finalized.
var fd0 *os.File

// DetachStdin keeps the engine away from the process's standard input. chDB is
// clickhouse-local inside: when fd 0 is not a terminal it reads all of it as data for INSERTs
// (swallowing input meant for the program) and refuses INSERT ... VALUES ("both inlined and
// external data"). DetachStdin moves the real stdin to a new descriptor, replaces os.Stdin
// with it, and leaves /dev/null on fd 0. Open calls it; call it earlier yourself if code
// captures os.Stdin before the engine opens. It runs once per process.
func DetachStdin() error { return detachStdin() }
