package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// LockFile is the file in a data directory that the one process using the directory keeps
// locked (flock) for its lifetime. It holds that process's pid, for the error the next one
// gets. The kernel releases the lock when the process exits, however it exits, so a lock is
// never stale and the file never needs deleting.
const LockFile = "breachd.lock"

// DataDirInUseError is returned when another process holds a data directory's lock.
type DataDirInUseError struct {
	Dir string
	PID int // 0 when the holder has not written its pid yet
}

func (e *DataDirInUseError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "pid " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("data directory %s is in use by %s (it holds %s locked; stop it first, or give this process another --data)",
		e.Dir, who, filepath.Join(e.Dir, LockFile))
}

// DataDirLock is the exclusive lock of a data directory, held from LockDataDir to Release.
type DataDirLock struct {
	f *os.File
}

// LockDataDir takes the lock of dir, which must exist, without waiting: a *DataDirInUseError
// says another process (or another LockDataDir of this one) holds it. Take it before opening
// anything in dir — the embedded NATS store, the embedded ClickHouse engine — and release it
// after they are closed.
//
// The lock is an flock(2) on dir/breachd.lock, so it belongs to this open file and is
// released when the process ends; the file is left in place. A lock file deleted while its
// holder runs cannot be detected by the holder; the next process then locks a new file.
func LockDataDir(dir string) (*DataDirLock, error) {
	path := filepath.Join(dir, LockFile)
	for attempt := 1; ; attempt++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lock data directory: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			pid := readPID(f)
			_ = f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, &DataDirInUseError{Dir: dir, PID: pid}
			}
			return nil, fmt.Errorf("lock data directory: flock %s: %w", path, err)
		}
		// The file may have been replaced between open and flock (a holder's file deleted and a
		// new one created): then the lock is on a file nobody else will look at; try again.
		if same, err := sameFile(f, path); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("lock data directory: %w", err)
		} else if !same {
			_ = f.Close()
			if attempt == 3 {
				return nil, fmt.Errorf("lock data directory: %s keeps being replaced", path)
			}
			continue
		}
		if err := writePID(f); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("lock data directory: write %s: %w", path, err)
		}
		return &DataDirLock{f: f}, nil
	}
}

// Release gives the lock up. It is safe on a nil lock and more than once.
func (l *DataDirLock) Release() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Truncate(0) // the pid is no longer true; the file stays
	_ = l.f.Close()     // closing the last descriptor of the open file releases the flock
	l.f = nil
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:n])))
	if err != nil {
		return 0
	}
	return pid
}

func sameFile(f *os.File, path string) (bool, error) {
	a, err := f.Stat()
	if err != nil {
		return false, err
	}
	b, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(a, b), nil
}
