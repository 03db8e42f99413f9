package history

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Output formats of Table.Write.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatCSV   = "csv"
	FormatTSV   = "tsv"
)

// Formats lists the formats Write accepts.
var Formats = []string{FormatTable, FormatJSON, FormatCSV, FormatTSV}

// Write renders t: an aligned table for people, JSON (an array of objects), CSV or TSV with a
// header line.
func (t *Table) Write(w io.Writer, format string) error {
	switch format {
	case FormatTable, "":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(t.Columns, "\t"))
		for _, r := range t.Rows {
			fmt.Fprintln(tw, strings.Join(t.strings(r), "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "(%d rows)\n", len(t.Rows))
		return err
	case FormatJSON:
		out := make([]map[string]any, len(t.Rows))
		for i, r := range t.Rows {
			m := make(map[string]any, len(r))
			for j, v := range r {
				m[t.Columns[j]] = v
			}
			out[i] = m
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case FormatCSV, FormatTSV:
		cw := csv.NewWriter(w)
		if format == FormatTSV {
			cw.Comma = '\t'
		}
		if err := cw.Write(t.Columns); err != nil {
			return err
		}
		for _, r := range t.Rows {
			if err := cw.Write(t.strings(r)); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	}
	return fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

func (t *Table) strings(r []any) []string {
	out := make([]string, len(r))
	for i, v := range r {
		out[i] = cell(v)
	}
	return out
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.000Z")
	case *time.Time:
		if x == nil {
			return ""
		}
		return cell(*x)
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
