package chdb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
)

// chDB cuts data sent inline after "INSERT ... FORMAT x" at the first
// "\n\n" (0x0A 0x0A) and runs what follows as further SQL statements: rows
// after a blank line are lost (binary formats hit this all the time) or,
// worse, executed. Insert data is therefore never passed inline: the
// Engine and the Server stage it in a file and run INSERT ... FROM INFILE.

var (
	// insertFormatRe matches "INSERT INTO ... FORMAT name" at the start of
	// a statement; group 1 is everything before FORMAT, group 2 the format.
	insertFormatRe = regexp.MustCompile(`(?is)^(?:\s+|--[^\n]*\n|/\*.*?\*/)*(INSERT\s+INTO\s.*?)\s+FORMAT\s+([A-Za-z][A-Za-z0-9_]*)`)
	// insertValuesRe matches "INSERT INTO ... VALUES" ending a statement
	// whose data comes separately (in the body of a request).
	insertValuesRe = regexp.MustCompile(`(?is)^(?:\s+|--[^\n]*\n|/\*.*?\*/)*(INSERT\s+INTO\s.*?)\s+VALUES\s*$`)
	// settingsRe splits a SETTINGS clause off an INSERT head: FROM INFILE
	// must come before it.
	settingsRe = regexp.MustCompile(`(?is)^(.*?)\s+(SETTINGS\s.*)$`)
)

// headLimit bounds how much of a body is searched for an INSERT head.
const headLimit = 64 << 10

// insertHead is the statement part of an INSERT whose data travels apart.
type insertHead struct {
	stmt   string // "INSERT INTO t (cols) [SETTINGS ...]", without FORMAT
	format string // input format of the data
}

// parseInsertHead recognises an INSERT whose data is sent separately
// (HTTP: query in the URL, data in the body).
func parseInsertHead(sql string) (insertHead, bool) {
	if m := insertFormatRe.FindStringSubmatchIndex(sql); m != nil && strings.TrimSpace(sql[m[1]:]) == "" {
		return insertHead{stmt: sql[m[2]:m[3]], format: sql[m[4]:m[5]]}, true
	}
	if m := insertValuesRe.FindStringSubmatch(sql); m != nil {
		return insertHead{stmt: m[1], format: "Values"}, true
	}
	return insertHead{}, false
}

// splitInlineInsert recognises "INSERT ... FORMAT name<ws>data" in head
// (the first bytes of a body). It returns the head and the offset at which
// data starts: after the first newline following the format name, or after
// all whitespace when there is no newline (ClickHouse's rule).
func splitInlineInsert(head []byte) (insertHead, int, bool) {
	m := insertFormatRe.FindSubmatchIndex(head)
	if m == nil {
		return insertHead{}, 0, false
	}
	i := m[1]
	if i < len(head) && !isSpace(head[i]) {
		return insertHead{}, 0, false // e.g. "FORMAT TSVWithNames" cut short
	}
	for i < len(head) && isSpace(head[i]) {
		if head[i] == '\n' {
			i++
			break
		}
		i++
	}
	return insertHead{stmt: string(head[m[2]:m[3]]), format: string(head[m[4]:m[5]])}, i, true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// fromInfile returns the statement that inserts the staged file at path.
func (h insertHead) fromInfile(path string) string {
	stmt, settings := h.stmt, ""
	if m := settingsRe.FindStringSubmatch(stmt); m != nil {
		stmt, settings = m[1], " "+m[2]
	}
	return fmt.Sprintf("%s FROM INFILE %s%s FORMAT %s", stmt, quoteString(path), settings, h.format)
}

// stageInline moves data that follows "INSERT ... FORMAT x" in sql into a
// file in dir and returns the FROM INFILE statement and a cleanup func.
// Other statements come back unchanged.
func stageInline(dir, sql string) (string, func(), error) {
	head := sql[:min(len(sql), headLimit)]
	ins, off, ok := splitInlineInsert([]byte(head))
	if !ok || strings.TrimSpace(sql[off:]) == "" {
		return sql, func() {}, nil
	}
	path, _, err := stageData(dir, strings.NewReader(sql[off:]), int64(len(sql)))
	if err != nil {
		return "", nil, err
	}
	return ins.fromInfile(path), func() { _ = os.Remove(path) }, nil
}

// errBodyTooLarge marks a body over Options.MaxBodyBytes.
var errBodyTooLarge = errors.New("request body too large")

// stageData copies r into a new temporary file in dir, at most limit bytes.
// The caller removes the file. It returns the path and the size written.
func stageData(dir string, r io.Reader, limit int64) (string, int64, error) {
	f, err := os.CreateTemp(dir, "breachd-chdb-insert-*")
	if err != nil {
		return "", 0, fmt.Errorf("stage insert data: %w", err)
	}
	path := f.Name()
	w := bufio.NewWriterSize(f, 1<<20)
	n, err := io.Copy(w, io.LimitReader(r, limit+1))
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > limit {
		err = errBodyTooLarge
	}
	if err != nil {
		_ = os.Remove(path)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = errBodyTooLarge
		}
		return "", 0, fmt.Errorf("stage insert data: %w", err)
	}
	return path, n, nil
}
