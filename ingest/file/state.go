package file

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// headLen is how many bytes at the start of a file identify it (with its device and inode).
const headLen = 1024

// fileID is a file's device and inode.
type fileID struct{ Dev, Ino uint64 }

func idOf(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)} //nolint:unconvert // Dev is int32 on some systems
	}
	return fileID{}
}

// position is what the state file records: where in which file the next unsubmitted line
// starts.
type position struct {
	Path       string `json:"path"`
	Dev        uint64 `json:"dev"`
	Ino        uint64 `json:"ino"`
	Offset     int64  `json:"offset"`      // just past the last submitted line
	Line       int    `json:"line"`        // lines before Offset
	HeadLen    int    `json:"head_len"`    // bytes hashed, min(Offset, 1024)
	HeadSHA256 string `json:"head_sha256"` // of the first HeadLen bytes
}

func (p *position) id() fileID { return fileID{Dev: p.Dev, Ino: p.Ino} }

// matches reports whether f (with identity id) is the file p was taken in: same device and
// inode, at least Offset bytes long, and the same first bytes (an inode can be reused).
func (p *position) matches(f *os.File, id fileID) bool {
	if id != p.id() {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() < p.Offset {
		return false
	}
	head, err := readHead(f, p.HeadLen)
	return err == nil && len(head) == p.HeadLen && hashHex(head) == p.HeadSHA256
}

// readHead returns the first min(n, size) bytes of f.
func readHead(f *os.File, n int) ([]byte, error) {
	buf := make([]byte, n)
	m, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:m], nil
}

func hashHex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// stateFile keeps one followed path's position in dir.
type stateFile struct {
	path string // of the state file
}

func newStateFile(dir, followed string) (*stateFile, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	h := sha256.Sum256([]byte(followed))
	name := fmt.Sprintf("follow-%s-%s.json", filepath.Base(followed), hex.EncodeToString(h[:6]))
	return &stateFile{path: filepath.Join(dir, name)}, nil
}

// load returns the saved position, or nil if there is none.
func (s *stateFile) load() (*position, error) {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read position %s: %w", s.path, err)
	}
	var p position
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("position file %s: %w", s.path, err)
	}
	if p.Offset < 0 || p.Line < 0 || p.HeadLen < 0 || p.HeadLen > headLen {
		return nil, fmt.Errorf("position file %s: out of range values", s.path)
	}
	return &p, nil
}

// save replaces the state file atomically: a temporary file in the same directory is written
// and fsynced, renamed over the old one, and the directory is fsynced.
func (s *stateFile) save(p *position) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, ".follow-*.tmp")
	if err != nil {
		return fmt.Errorf("save position: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save position: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save position: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save position: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("save position: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("save position: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("save position: sync %s: %w", dir, err)
	}
	return nil
}

// rotatedCandidates lists the files logrotate and similar tools leave a file under:
// path.1, path.2024-01-01, path-20240101 and the like.
func rotatedCandidates(path string) []string {
	var out []string
	for _, pat := range []string{path + ".*", path + "-*"} {
		m, _ := filepath.Glob(pat) // the only error is a bad pattern
		out = append(out, m...)
	}
	return out
}
