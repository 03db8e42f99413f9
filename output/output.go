// Package output is the one writer of the CLI's results: an aligned table for people, JSON,
// CSV or TSV. Every command that prints data (history, backtest, dlq, incidents, rules) renders
// it through Write, so the formats mean the same everywhere.
//
// A result is a *Table (rows under column names), or a value with its own layout for people
// (Text) and, for CSV and TSV, rows (Tabular); in JSON any value is written as it marshals.
package output

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// The output formats.
const (
	Table = "table"
	JSON  = "json"
	CSV   = "csv"
	TSV   = "tsv"
)

// Formats are every format Write knows; Documents are those of results that are not rows (one
// incident, a change): table (their own layout) and JSON.
var (
	Formats   = []string{Table, JSON, CSV, TSV}
	Documents = []string{Table, JSON}
)

// Rows is a result of rows under column names.
type Rows struct {
	Columns []string
	Rows    [][]any
	// Plain leaves out the "(N rows)" line under the aligned table.
	Plain bool
	// TableColumns > 0 shows only the first TableColumns columns in the aligned table (the
	// rest, long texts, only in JSON, CSV and TSV).
	TableColumns int
	// Footer is a line under the aligned table (a total).
	Footer string
}

// RowsOf returns the rows of items under columns, one row per item as row makes it.
func RowsOf[T any](columns []string, items []T, row func(T) []any) *Rows {
	r := &Rows{Columns: columns, Rows: make([][]any, 0, len(items))}
	for _, it := range items {
		r.Rows = append(r.Rows, row(it))
	}
	return r
}

// Text is a result with its own layout for people (the table format).
type Text interface{ WriteText(w io.Writer) error }

// Tabular is a result that has rows, for CSV and TSV (and the table format without Text).
type Tabular interface{ Rows() *Rows }

// Flag is the --format flag (a pflag.Value) of a command that prints in one of Formats: Set
// refuses any other, so a wrong format is the flag's error while the command line is parsed.
type Flag struct {
	Format  *string // where the format given goes; its value is the default
	Formats []string
}

// Set takes s when it is one of f.Formats.
func (f Flag) Set(s string) error {
	if !slices.Contains(f.Formats, s) {
		return fmt.Errorf("%q is not %s", s, OrList(f.Formats))
	}
	*f.Format = s
	return nil
}

func (f Flag) String() string {
	if f.Format == nil {
		return ""
	}
	return *f.Format
}

// Type names the value in the flag's help.
func (f Flag) Type() string { return "format" }

// OrList joins s for a sentence: "a", "a or b", "a, b or c".
func OrList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// Write renders v in format: JSON, v indented (*Rows: an array of objects, one per row); CSV
// and TSV, v's rows under a header line; table, v's own layout (Text), else its rows aligned
// in columns with the row count below.
func Write(w io.Writer, format string, v any) error {
	rows, _ := v.(*Rows)
	if t, ok := v.(Tabular); ok && rows == nil {
		rows = t.Rows()
	}
	switch format {
	case JSON:
		if r, ok := v.(*Rows); ok {
			v = r.objects()
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case Table, "":
		if t, ok := v.(Text); ok {
			return t.WriteText(w)
		}
		if rows != nil {
			return rows.writeAligned(w)
		}
	case CSV, TSV:
		if rows != nil {
			return rows.writeCSV(w, format == TSV)
		}
	default:
		return fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
	}
	return fmt.Errorf("this result has no %s form", format)
}

func (r *Rows) writeAligned(w io.Writer) error {
	n := len(r.Columns)
	if r.TableColumns > 0 {
		n = min(n, r.TableColumns)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(r.Columns[:n], "\t"))
	for _, row := range r.Rows {
		fmt.Fprintln(tw, strings.Join(cells(row[:min(n, len(row))]), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !r.Plain {
		fmt.Fprintf(w, "(%d rows)\n", len(r.Rows))
	}
	if r.Footer != "" {
		fmt.Fprintln(w, r.Footer)
	}
	return nil
}

func (r *Rows) writeCSV(w io.Writer, tabs bool) error {
	cw := csv.NewWriter(w)
	if tabs {
		cw.Comma = '\t'
	}
	if err := cw.Write(r.Columns); err != nil {
		return err
	}
	for _, row := range r.Rows {
		if err := cw.Write(cells(row)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func (r *Rows) objects() []map[string]any {
	out := make([]map[string]any, len(r.Rows))
	for i, row := range r.Rows {
		m := make(map[string]any, len(row))
		for j, v := range row {
			m[r.Columns[j]] = v
		}
		out[i] = m
	}
	return out
}

func cells(row []any) []string {
	out := make([]string, len(row))
	for i, v := range row {
		out[i] = Cell(v)
	}
	return out
}

// Cell is how a value reads in a table, CSV or TSV: times in UTC with milliseconds, nil and
// nil pointers empty, lists and objects as JSON.
func Cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.000Z")
	case *time.Time:
		if x == nil {
			return ""
		}
		return Cell(*x)
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	}
	if b, err := json.Marshal(v); err == nil && (strings.HasPrefix(string(b), "[") || strings.HasPrefix(string(b), "{")) {
		return string(b)
	}
	return fmt.Sprint(v)
}

// TerminalSafe renders b for a terminal: printable characters as they are; control
// characters, invalid UTF-8 and invisible or direction-changing characters (which could hide
// or reorder what is shown) as \xNN or \u{NNNN}. max > 0 cuts the result to about max
// characters with "…".
func TerminalSafe(b []byte, max int) string {
	var sb strings.Builder
	n := 0
	for len(b) > 0 {
		if max > 0 && n >= max {
			sb.WriteString("…")
			break
		}
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&sb, `\x%02x`, b[0])
		case r == '\t' || r == '\n' || r == '\r':
			sb.WriteString(strconv.QuoteRune(r)[1:3])
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&sb, `\x%02x`, r)
		case r >= 0x80 && (!unicode.IsPrint(r) || unicode.Is(unicode.Cf, r)):
			fmt.Fprintf(&sb, `\u{%04x}`, r)
		default:
			sb.WriteRune(r)
		}
		b = b[size:]
		n++
	}
	return sb.String()
}
