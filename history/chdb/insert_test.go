package chdb

import (
	"strings"
	"testing"
)

func TestParseInsertHead(t *testing.T) {
	tests := []struct {
		sql, stmt, format string
		ok                bool
	}{
		{"INSERT INTO t FORMAT Native", "INSERT INTO t", "Native", true},
		{"insert into `t` (`a`, `b`) format RowBinary\n", "insert into `t` (`a`, `b`)", "RowBinary", true},
		{"INSERT INTO t (a) SETTINGS async_insert=1 FORMAT Native", "INSERT INTO t (a) SETTINGS async_insert=1", "Native", true},
		{"-- note\n/* c */ INSERT INTO t FORMAT TSV", "INSERT INTO t", "TSV", true},
		{"INSERT INTO t VALUES", "INSERT INTO t", "Values", true},
		{"INSERT INTO t FORMAT TSV\n1\n", "", "", false}, // data inline: not a head
		{"INSERT INTO t SELECT 1", "", "", false},
		{"SELECT 1 FORMAT Native", "", "", false},
	}
	for _, tt := range tests {
		h, ok := parseInsertHead(tt.sql)
		if ok != tt.ok || h.stmt != tt.stmt || h.format != tt.format {
			t.Errorf("parseInsertHead(%q) = %+v, %v", tt.sql, h, ok)
		}
	}
}

func TestSplitInlineInsert(t *testing.T) {
	tests := []struct {
		sql, format, data string
		ok                bool
	}{
		{"INSERT INTO t FORMAT TSV\n1\tx\n", "TSV", "1\tx\n", true},
		{"INSERT INTO t FORMAT TSV  \n\n2\n", "TSV", "\n2\n", true}, // one newline ends the head
		{"INSERT INTO t FORMAT JSONEachRow {\"a\":1}", "JSONEachRow", "{\"a\":1}", true},
		{"INSERT INTO t FORMAT TSV", "TSV", "", true},
		{"INSERT INTO t FORMAT TSVWithNam", "TSVWithNam", "", true},
		{"SELECT 1 FORMAT TSV\n", "", "", false},
	}
	for _, tt := range tests {
		h, off, ok := splitInlineInsert([]byte(tt.sql))
		if ok != tt.ok || (ok && (h.format != tt.format || tt.sql[off:] != tt.data)) {
			t.Errorf("splitInlineInsert(%q) = %+v, data %q, %v", tt.sql, h, tt.sql[off:], ok)
		}
	}
}

func TestFromInfile(t *testing.T) {
	tests := []struct {
		head insertHead
		want string
	}{
		{insertHead{"INSERT INTO t (a, b)", "Native"}, "INSERT INTO t (a, b) FROM INFILE '/tmp/x\\'y' FORMAT Native"},
		{insertHead{"INSERT INTO t SETTINGS async_insert=1", "TSV"},
			"INSERT INTO t FROM INFILE '/tmp/x\\'y' SETTINGS async_insert=1 FORMAT TSV"},
	}
	for _, tt := range tests {
		if got := tt.head.fromInfile("/tmp/x'y"); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// FuzzInsertParsing checks that SQL from outside never panics the INSERT
// recognisers and that their results stay consistent.
func FuzzInsertParsing(f *testing.F) {
	for _, s := range []string{
		"INSERT INTO t FORMAT Native", "INSERT INTO t FORMAT TSV\n1\n\n2", "INSERT INTO t VALUES",
		"/* x */ insert into t (a) settings x=1 format CSV \r\n1,2", "SELECT 1", "INSERT INTO FORMAT FORMAT",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		if h, ok := parseInsertHead(sql); ok {
			if !strings.Contains(strings.ToUpper(h.stmt), "INSERT") || h.format == "" {
				t.Fatalf("bad head %+v", h)
			}
			_ = h.fromInfile("/tmp/f")
		}
		h, off, ok := splitInlineInsert([]byte(sql))
		if ok && (off < 0 || off > len(sql) || h.format == "") {
			t.Fatalf("bad split %+v at %d of %d", h, off, len(sql))
		}
		_ = parseQueryError(sql)
	})
}
