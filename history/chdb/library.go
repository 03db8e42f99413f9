package chdb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/ebitengine/purego"
)

// LibVersion is the chDB release this package is written and tested against.
const LibVersion = "26.5.3"

// libEnv names the environment variable that overrides the library path.
const libEnv = "BREACHD_CHDB_LIB"

// setupHint tells a person how to obtain the library; it is part of every
// "library missing" error.
const setupHint = "run scripts/setup.sh (downloads @chdb/lib-linux-x64-gnu@" + LibVersion +
	" from npm) or set " + libEnv

// ErrLibraryMissing is returned (wrapped) by Open when the shared library
// file does not exist.
var ErrLibraryMissing = errors.New("chDB library not found")

// DefaultLibPath returns $BREACHD_CHDB_LIB when set, otherwise
// $XDG_CACHE_HOME/breachd/chdb-<LibVersion>/package/libchdb.so, with
// XDG_CACHE_HOME defaulting to ~/.cache.
func DefaultLibPath() string {
	if p := os.Getenv(libEnv); p != "" {
		return p
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "breachd", "chdb-"+LibVersion, "package", "libchdb.so")
}

// library holds the C entry points of libchdb.so that this package uses.
//
// C signatures (chdb.h of chDB 26.x):
//
//	chdb_connection *chdb_connect(int argc, char **argv);
//	void chdb_close_conn(chdb_connection *conn);
//	chdb_result *chdb_query_n(chdb_connection conn, const char *query,
//	        size_t query_len, const char *format, size_t format_len);
//	chdb_result *chdb_query_with_params_n(chdb_connection conn,
//	        const char *query, size_t query_len, const char *format, size_t format_len,
//	        const char *const *param_names, const size_t *param_name_lens,
//	        const char *const *param_values, const size_t *param_value_lens,
//	        size_t param_count);
//	char *chdb_result_buffer(chdb_result *r);
//	size_t chdb_result_length(chdb_result *r);
//	const char *chdb_result_error(chdb_result *r);
//	uint64_t chdb_result_rows_written(chdb_result *r);
//	void chdb_destroy_query_result(chdb_result *r);
//	void chdb_set_signal_handlers_enabled(int enabled);
//
// chdb_connection is itself a pointer, so chdb_connect returns a pointer to
// a pointer; queries take the dereferenced value.
type library struct {
	connect       func(argc int32, argv []*byte) *uintptr
	closeConn     func(conn *uintptr)
	queryN        func(conn uintptr, q []byte, qlen uintptr, f []byte, flen uintptr) uintptr
	queryParamsN  func(conn uintptr, q []byte, qlen uintptr, f []byte, flen uintptr, names []*byte, nameLens []uintptr, values []*byte, valueLens []uintptr, n uintptr) uintptr
	resultBuffer  func(r uintptr) *byte
	resultLength  func(r uintptr) uintptr
	resultError   func(r uintptr) string
	rowsWritten   func(r uintptr) uint64
	destroyResult func(r uintptr)
	setSignals    func(enabled int32)
}

// loadLibrary opens libPath with dlopen and resolves the entry points.
//
// The handle is never closed: unloading ClickHouse from a running process
// is not supported, and dlopen of an already loaded path only bumps a
// reference count, so repeated calls are cheap.
func loadLibrary(libPath string) (*library, error) {
	st, err := os.Stat(libPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w at %s: %s", ErrLibraryMissing, libPath, setupHint)
	case err != nil:
		return nil, fmt.Errorf("stat chDB library %s: %w", libPath, err)
	case st.IsDir():
		return nil, fmt.Errorf("%w: %s is a directory: %s", ErrLibraryMissing, libPath, setupHint)
	}
	h, err := purego.Dlopen(libPath, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, fmt.Errorf("dlopen %s: %w", libPath, err)
	}
	lib := &library{}
	syms := []struct {
		name string
		fn   any
	}{
		{"chdb_connect", &lib.connect},
		{"chdb_close_conn", &lib.closeConn},
		{"chdb_query_n", &lib.queryN},
		{"chdb_query_with_params_n", &lib.queryParamsN},
		{"chdb_result_buffer", &lib.resultBuffer},
		{"chdb_result_length", &lib.resultLength},
		{"chdb_result_error", &lib.resultError},
		{"chdb_result_rows_written", &lib.rowsWritten},
		{"chdb_destroy_query_result", &lib.destroyResult},
		{"chdb_set_signal_handlers_enabled", &lib.setSignals},
	}
	for _, s := range syms {
		addr, err := purego.Dlsym(h, s.name)
		if err != nil {
			return nil, fmt.Errorf("%s: symbol %s: %w (is this chDB %s?)", libPath, s.name, err, LibVersion)
		}
		purego.RegisterFunc(s.fn, addr)
	}
	return lib, nil
}

// cstring returns s as a NUL-terminated byte slice.
func cstring(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

// result copies what a chdb_result holds into Go memory and frees it.
// It returns the output bytes, the rows written and the engine's error text
// ("" when the query succeeded).
func (l *library) result(r uintptr) (out []byte, written uint64, errText string) {
	defer l.destroyResult(r)
	if msg := l.resultError(r); msg != "" {
		return nil, 0, msg
	}
	n := int(l.resultLength(r))
	if p := l.resultBuffer(r); p != nil && n > 0 {
		out = make([]byte, n)
		copy(out, unsafe.Slice(p, n))
	}
	return out, l.rowsWritten(r), ""
}
