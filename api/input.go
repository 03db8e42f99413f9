package api

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"breachd/event"
	"breachd/notify"
	"breachd/output"
	"breachd/timespec"
)

// Body limits: most requests; the small forms (a comment, a state).
const (
	maxBody      = 1 << 20
	maxSmallBody = 16 << 10
)

// decode reads r's JSON body into v strictly: one JSON value, no unknown fields, nothing after
// it. An empty body is the empty object; a body must say it is JSON (Content-Type), so that
// no HTML form can post one.
func decode(r *http.Request, v any) error {
	if r.ContentLength != 0 {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			return badRequest("send the body as JSON, with Content-Type: application/json")
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var tooLarge *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case errors.As(err, &tooLarge):
		return err
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return &apiError{http.StatusBadRequest, codeInvalidJSON, "the body is not valid JSON: " + err.Error()}
	case errors.As(err, &typ):
		return &apiError{http.StatusBadRequest, codeInvalidJSON, fmt.Sprintf("field %q: want %s", typ.Field, typ.Type)}
	case err != nil && strings.HasPrefix(err.Error(), "json: unknown field "):
		return &apiError{http.StatusBadRequest, codeUnknownField, strings.TrimPrefix(err.Error(), "json: ") + " (see /api/openapi.json)"}
	case err != nil:
		return &apiError{http.StatusBadRequest, codeInvalidJSON, "the body is not valid JSON: " + err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if errors.As(err, &tooLarge) {
			return err
		}
		return &apiError{http.StatusBadRequest, codeInvalidJSON, "the body has data after its JSON value"}
	}
	return checkTexts(reflect.ValueOf(v), "")
}

// checkText refuses in s (the text at) what checkTexts refuses in each string of a body.
func checkText(s, at string) error {
	for _, c := range s {
		if c != '\n' && c != '\r' && c != '\t' && (event.Invisible(c) || c == utf8.RuneError) {
			return badRequest("%s holds the invisible, control or direction-changing character %U", cmp.Or(at, "the body"), c)
		}
	}
	return nil
}

// checkTexts refuses, in every string of a decoded body (struct fields, lists, map keys and
// values, through pointers), a character that would show as something else to the person
// who reads it later — in a timeline, the audit log, a rule file: control characters other
// than line breaks and tab, bidirectional overrides (text that reads differently than it is
// stored), and invisible ones. at names the field for the error.
func checkTexts(v reflect.Value, at string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return checkTexts(v.Elem(), at)
		}
	case reflect.String:
		return checkText(v.String(), at)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			if err := checkTexts(v.Field(i), cmp.Or(name, f.Name)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := checkTexts(v.Index(i), at); err != nil {
				return err
			}
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			if err := checkTexts(k, at); err != nil {
				return err
			}
			if err := checkTexts(v.MapIndex(k), at+"."+fmt.Sprint(k)); err != nil {
				return err
			}
		}
	}
	return nil
}

// incidentID returns the path value id when it has the form notify's incident ids have
// (incidentIDOf), else a 400.
func incidentID(r *http.Request) (string, error) { return incidentIDOf(r.PathValue("id")) }

// incidentIDOf returns id when it has the form notify's incident ids have (letters, digits,
// '-' and '_', at most 64), else a 400.
func incidentIDOf(id string) (string, error) {
	if !notify.ValidID(id) {
		return "", badRequest("incident id: want 1 to 64 of A-Z a-z 0-9 - _")
	}
	return id, nil
}

// maxNameLen is the longest account, person or user name accepted.
const maxNameLen = 256

// checkName refuses a name (account, person, user) that is empty, too long, not UTF-8, or
// holds a character a person cannot see or would read wrongly: anything but letters, marks,
// numbers, punctuation, symbols and the ASCII space (so no controls, bidi overrides,
// zero-width or other format characters, other spaces, private use, unassigned code points),
// and no variation selectors or other default-ignorable code points.
func checkName(what, s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return badRequest("%s is required", what)
	case len(s) > maxNameLen:
		return badRequest("%s is longer than %d bytes", what, maxNameLen)
	case !utf8.ValidString(s):
		return badRequest("%s is not valid UTF-8", what)
	case s != strings.TrimSpace(s):
		return badRequest("%s has white space around it", what)
	}
	for _, c := range s {
		if !unicode.IsPrint(c) || unicode.In(c, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) {
			return badRequest("%s holds the invisible or control character %U", what, c)
		}
	}
	return nil
}

// query reads the query parameters of a route: times as timespec reads them, numbers, flags;
// the first bad one is the error.
type query struct {
	r   *http.Request
	now time.Time
	err error
}

func newQuery(r *http.Request) *query { return &query{r: r, now: time.Now()} }

func (q *query) str(name string) string { return q.r.URL.Query().Get(name) }

// time is the parameter name as an RFC 3339 time, a date or a duration ago; def if absent.
func (q *query) time(name string, def time.Time) time.Time {
	if q.err != nil {
		return def
	}
	t, err := timeOf(name, q.str(name), q.now, def)
	q.err = err
	return t
}

// timeOf reads the value v of name as package timespec does (RFC 3339, a date, a duration
// ago), in UTC at now; def when v is empty.
func timeOf(name, v string, now, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	t, err := timespec.Parse(v, time.UTC, now)
	if err != nil {
		return def, badRequest("%s: %v", name, err)
	}
	return t.UTC(), nil
}

// int is the parameter name as a whole number in [lo, hi]; def if absent.
func (q *query) int(name string, def, lo, hi int) int {
	v := q.str(name)
	if v == "" || q.err != nil {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		q.err = badRequest("%s: want a whole number from %d to %d", name, lo, hi)
	}
	return n
}

// bool is the parameter name as true or false; false if absent.
func (q *query) bool(name string) bool {
	v := q.str(name)
	if v == "" || q.err != nil {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		q.err = badRequest("%s: want true or false", name)
	}
	return b
}

// Pagination of row results.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// maxOffset bounds a cursor's offset (no listing here has more rows).
const maxOffset = 100_000_000

// page is where a listing starts and how many rows it returns (?limit=&cursor=).
type page struct{ offset, limit int }

func (q *query) page() page {
	p := page{limit: q.int("limit", defaultLimit, 1, maxLimit)}
	if c := q.str("cursor"); c != "" && q.err == nil {
		b, err := base64.RawURLEncoding.DecodeString(c)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "o:"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(b), "o:") || n < 0 || n > maxOffset {
			q.err = badRequest("cursor: not a cursor this server gave (use the next of the previous page)")
		}
		p.offset = n
	}
	return p
}

func cursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(offset)))
}

// Rows is a row result: the columns, the rows of this page as objects (column → value), the
// footer line, how many rows there are in all, and the cursor of the next page ("" at the end).
type Rows struct {
	Columns []string         `json:"columns"`
	Rows    []map[string]any `json:"rows"`
	Footer  string           `json:"footer"`
	Total   int              `json:"total"`
	Next    string           `json:"next"`
}

// rowsPage returns the page p of t.
func rowsPage(t *output.Rows, p page) Rows {
	out := Rows{Columns: t.Columns, Rows: []map[string]any{}, Footer: t.Footer, Total: len(t.Rows)}
	if t.Columns == nil {
		out.Columns = []string{}
	}
	end := min(p.offset+p.limit, len(t.Rows))
	for i := p.offset; i < end; i++ {
		out.Rows = append(out.Rows, rowObject(t.Columns, t.Rows[i]))
	}
	if end < len(t.Rows) {
		out.Next = cursor(end)
	}
	return out
}

// rowObject is row as a JSON object under columns (a row of Rows).
func rowObject(columns []string, row []any) map[string]any {
	m := make(map[string]any, len(columns))
	for j, c := range columns {
		if j < len(row) {
			m[c] = row[j]
		}
	}
	return m
}
