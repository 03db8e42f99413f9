package secretfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// PermissionError says that a secret file is open to its group or to others.
type PermissionError struct {
	Path string
	Mode fs.FileMode // the permission bits found
}

func (e *PermissionError) Error() string {
	what := "readable"
	if e.Mode&0o044 == 0 {
		what = "accessible"
	}
	return fmt.Sprintf("secret file %s is %s by group or others (mode %04o); it must be private to its owner: chmod 600 %s",
		e.Path, what, uint32(e.Mode.Perm()), e.Path)
}

// MaxSize bounds what Read reads: a secret file is small, and anything larger is a mistake
// (a log or a directory dump given as the secret).
const MaxSize = 1 << 20

// Read returns the contents of the secret file at path. It returns a *PermissionError if the
// file's group or other permission bits are set, and an error naming the path if the file
// cannot be opened, is not a regular file, or is larger than MaxSize. It does not trim
// anything.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *fs.PathError names the path
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secret file %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, &PermissionError{Path: path, Mode: fi.Mode().Perm()}
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read secret file %s: %w", path, err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("secret file %s is larger than %d bytes: not a secret", path, MaxSize)
	}
	return b, nil
}
