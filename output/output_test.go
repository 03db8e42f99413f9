package output

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestWriteRows(t *testing.T) {
	at := time.Date(2026, 11, 2, 8, 0, 0, 0, time.FixedZone("CET", 3600))
	r := &Rows{Columns: []string{"who", "n", "when", "ips", "none"}, Rows: [][]any{
		{"kari@o.no", uint64(3), at, []string{"1.1.1.1"}, nil},
		{"ola, \"jr\"", 1, (*time.Time)(nil), []string{}, nil},
	}}
	for _, c := range []struct{ format, want string }{
		{Table, "who        n  when                      ips          none\nkari@o.no  3  2026-11-02T07:00:00.000Z  [\"1.1.1.1\"]  \nola, \"jr\"  1                            []           \n(2 rows)\n"},
		{CSV, "who,n,when,ips,none\nkari@o.no,3,2026-11-02T07:00:00.000Z,\"[\"\"1.1.1.1\"\"]\",\n\"ola, \"\"jr\"\"\",1,,[],\n"},
		{TSV, "who\tn\twhen\tips\tnone\nkari@o.no\t3\t2026-11-02T07:00:00.000Z\t\"[\"\"1.1.1.1\"\"]\"\t\n\"ola, \"\"jr\"\"\"\t1\t\t[]\t\n"},
		{JSON, `"who": "kari@o.no"`},
	} {
		var b strings.Builder
		if err := Write(&b, c.format, r); err != nil || !strings.Contains(b.String(), c.want) {
			t.Errorf("%s: %v\n got %q\nwant %q", c.format, err, b.String(), c.want)
		}
	}
	var b strings.Builder
	r.Plain = true
	if err := Write(&b, Table, r); err != nil || strings.Contains(b.String(), "rows)") {
		t.Errorf("plain table: %q %v", b.String(), err)
	}
	if err := Write(io.Discard, "xml", r); err == nil {
		t.Error("unknown format accepted")
	}
}

type doc struct{ Name string }

func (d doc) WriteText(w io.Writer) error {
	_, err := io.WriteString(w, "name: "+d.Name+"\n")
	return err
}

type long struct{ doc }

func (l long) Rows() *Rows { return &Rows{Columns: []string{"name"}, Rows: [][]any{{l.Name}}} }

func TestWriteDocuments(t *testing.T) {
	for _, c := range []struct {
		v            any
		format, want string
		wantErr      bool
	}{
		{doc{"a"}, Table, "name: a\n", false},
		{doc{"a"}, JSON, "{\n  \"Name\": \"a\"\n}\n", false},
		{doc{"a"}, CSV, "", true}, // no rows: no CSV
		{long{doc{"b"}}, Table, "name: b\n", false},
		{long{doc{"b"}}, TSV, "name\nb\n", false},
		{map[string]int{"x": 1}, Table, "", true},
	} {
		var b strings.Builder
		err := Write(&b, c.format, c.v)
		if (err != nil) != c.wantErr || b.String() != c.want {
			t.Errorf("%T as %s: %q, %v", c.v, c.format, b.String(), err)
		}
	}
}

func TestFlag(t *testing.T) {
	format := Table
	f := Flag{Format: &format, Formats: Documents}
	if f.String() != Table || f.Type() != "format" {
		t.Fatalf("String %q, Type %q", f.String(), f.Type())
	}
	if err := f.Set(CSV); err == nil || err.Error() != `"csv" is not table or json` || format != Table {
		t.Errorf("Set(csv) = %v, format %q; want a refusal naming the formats, the default kept", err, format)
	}
	if err := f.Set(JSON); err != nil || format != JSON || f.String() != JSON {
		t.Errorf("Set(json) = %v, format %q", err, format)
	}
	for in, want := range map[string][]string{"a": {"a"}, "a or b": {"a", "b"}, "a, b or c": {"a", "b", "c"}} {
		if got := OrList(want); got != in {
			t.Errorf("OrList(%q) = %q, want %q", want, got, in)
		}
	}
}

func TestTerminalSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain":             "plain",
		"a\x1b]0;pwned\x07": `a\x1b]0;pwned\x07`,
		"tab\tnl\n":         `tab\tnl\n`,
		"bad \xff":          `bad \xff`,
		"rtl \u202e hidden": `rtl \u{202e} hidden`,
		"æøå":               "æøå",
	} {
		if got := TerminalSafe([]byte(in), 0); got != want {
			t.Errorf("TerminalSafe(%q) = %q, want %q", in, got, want)
		}
	}
	if got := TerminalSafe([]byte("abcdef"), 3); got != "abc…" {
		t.Errorf("cut: %q", got)
	}
}

// TestTableColumnsAndFooter: the aligned table leaves out the columns past TableColumns and
// ends with the footer; the other formats have every column and no footer.
func TestTableColumnsAndFooter(t *testing.T) {
	r := &Rows{Columns: []string{"id", "n", "query"}, Rows: [][]any{{"e1", 2, "SELECT 1"}}, TableColumns: 2, Footer: "total: 2"}
	var b strings.Builder
	if err := Write(&b, Table, r); err != nil || b.String() != "id  n\ne1  2\n(1 rows)\ntotal: 2\n" {
		t.Errorf("table: %v\n%q", err, b.String())
	}
	b.Reset()
	if err := Write(&b, CSV, r); err != nil || b.String() != "id,n,query\ne1,2,SELECT 1\n" {
		t.Errorf("csv: %v\n%q", err, b.String())
	}
	b.Reset()
	if err := Write(&b, JSON, r); err != nil || !strings.Contains(b.String(), `"query": "SELECT 1"`) || strings.Contains(b.String(), "total") {
		t.Errorf("json: %v\n%s", err, b.String())
	}
}
