package httpin

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestSplit(t *testing.T) {
	cases := []struct {
		name string
		body string
		f    format
		want string // items as "line:data|..." or the error
	}{
		{"lines", "{\"a\":1}\n\n {\"b\":2}\r\n", formatLines, `1:{"a":1}|3: {"b":2}`},
		{"lines keep a leading [", "[1]\n{}\n", formatLines, `1:[1]|2:{}`},
		{"array", ` [ {"a":1} , 2, "x", {"b":[1]} ] `, formatJSON, `0:{"a":1}|0:2|0:"x"|0:{"b":[1]}`},
		{"empty array", `[]`, formatJSON, ``},
		{"one pretty object", "{\n\"a\":1\n}\n", formatJSON, "0:{\n\"a\":1\n}"},
		{"lines as json", "{\"a\":1}\n{\"b\":2}", formatJSON, `1:{"a":1}|2:{"b":2}`},
		{"broken lines as json", "{\"a\":1}\nnot json\n", formatJSON, `1:{"a":1}|2:not json`},
		{"bom", "\xef\xbb\xbf[{}]", formatJSON, `0:{}`},
		{"too long line", "{\"a\":12345}\n{}", formatLines, `1:{"a":12345+|2:{}`},
		{"too long element", `[{"a":12345},{}]`, formatJSON, `0:{"a":12345+|0:{}`},
		{"unterminated array", `[{"a":1},`, formatJSON, "error: not a JSON array"},
		{"trailing data", `[{}] x`, formatJSON, "error: not a JSON array"},
		{"empty", " \r\n ", formatLines, "error: empty body"},
		{"too many lines", "1\n2\n3\n4\n5\n6\n", formatLines, "error: too many records"},
		{"too many elements", "[1,2,3,4,5,6]", formatJSON, "error: too many records"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			items, err := split([]byte(c.body), c.f, 5, 10)
			var got string
			if err != nil {
				got = "error: " + err.Error()
				if len(got) > len(c.want) {
					got = got[:len(c.want)]
				}
			} else {
				var parts [][]byte
				for _, it := range items {
					p := fmt.Appendf(nil, "%d:%s", it.line, it.data)
					if it.tooLong {
						p = append(p, '+')
					}
					parts = append(parts, p)
				}
				got = string(bytes.Join(parts, []byte("|")))
			}
			if got != c.want {
				t.Errorf("split = %q, want %q", got, c.want)
			}
		})
	}
}

// FuzzSplit: split never panics, honours its limits, and every item is a non-blank part of
// the body.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"{}\n{}", "[{},{}]", "[", "[1,", "\xef\xbb\xbf{\"a\":\"\\u00e5\"}", "\n\n", "[]]", `[{"a":[}]`} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, asJSON bool) {
		fm := formatLines
		if asJSON {
			fm = formatJSON
		}
		items, err := split(body, fm, 50, 64)
		if err != nil {
			var ee *envelopeError
			if !errors.As(err, &ee) && !errors.Is(err, errTooMany) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		if len(items) > 50 {
			t.Fatalf("%d items, limit 50", len(items))
		}
		for _, it := range items {
			if len(it.data) > 64 || len(bytes.TrimSpace(it.data)) == 0 || it.tooLong != (len(it.data) == 64 && it.tooLong) {
				t.Fatalf("bad item %+v", it)
			}
		}
	})
}
