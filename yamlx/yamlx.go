// Package yamlx is breachd's one way of reading YAML configuration: strict decoding (unknown
// keys and values of the wrong type are errors) and errors that name the file, the line and
// the key of the problem, also for the checks a package makes after decoding.
//
// Decode serves configuration that maps onto Go structs (notification channels, deactivation,
// ingest mappings); Parse and Key serve the rule compiler, which walks the node tree itself to
// place errors at a column. Both report a problem as an *Error.
package yamlx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is a problem at a place in a YAML document.
type Error struct {
	File string // as given to Decode or Parse; "" when the caller names the file itself
	Line int    // 1-based; 0 if unknown
	Key  string // path of the key, e.g. "channels[2].email.to"; "" if none
	Err  error
}

// Error returns "file:line: key: err", leaving out what is unknown ("line N: …" without a
// file name).
func (e *Error) Error() string {
	loc := e.File
	switch {
	case e.Line > 0 && loc != "":
		loc = fmt.Sprintf("%s:%d", loc, e.Line)
	case e.Line > 0:
		loc = fmt.Sprintf("line %d", e.Line)
	}
	var b strings.Builder
	for _, s := range []string{loc, e.Key} {
		if s != "" {
			b.WriteString(s)
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Doc is a decoded document's node tree, to place the errors of later checks.
type Doc struct {
	file string
	root *yaml.Node
}

// Decode decodes the YAML document data into v strictly: a key v has no field for and a value
// of the wrong type are errors. An empty document is an error too. Errors are *Error with the
// line of the first problem (all problems are in the message); file names the document in
// them ("" to leave the name to the caller). The returned Doc places later errors (At).
func Decode(file string, data []byte, v any) (*Doc, error) {
	root, err := Parse(file, data)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Err: errors.New("empty document")}
		}
		return nil, decodeError(file, err)
	}
	return &Doc{file: file, root: root}, nil
}

// Parse parses data into its node tree. A syntax error is an *Error with its line ("yaml:
// mapping values are not allowed in this context").
func Parse(file string, data []byte) (*yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		e := &Error{File: file, Err: err}
		if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Err = errors.New("yaml: " + m[2])
		}
		return nil, e
	}
	return &root, nil
}

var (
	syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	typeLine   = regexp.MustCompile(`^line (\d+): (.*?)(?: in type \S+)?$`)
)

// decodeError turns yaml's "yaml: unmarshal errors:\n  line 4: field x not found in type
// channel.webhookConfig" into an *Error at the line of the first one.
func decodeError(file string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return &Error{File: file, Err: err}
	}
	e := &Error{File: file}
	var msgs []string
	for _, m := range te.Errors {
		if sub := typeLine.FindStringSubmatch(m); sub != nil {
			if e.Line == 0 {
				e.Line, _ = strconv.Atoi(sub[1])
			}
			m = sub[2]
			if len(msgs) > 0 {
				m = "line " + sub[1] + ": " + m
			}
		}
		msgs = append(msgs, m)
	}
	e.Err = errors.New(strings.Join(msgs, "; "))
	return e
}

// At returns err placed at path, a list of mapping keys (string) and sequence indexes (int)
// from the document's top: the line of the deepest node of path the document has (0 if none)
// and the path as the key ("routes[0].channels[1]").
func (d *Doc) At(err error, path ...any) *Error {
	return &Error{File: d.file, Line: d.Line(path...), Key: keyPath(path), Err: err}
}

// Line returns the line of the deepest node along path (see At): a mapping key's own line, or
// a sequence element's; 0 if the document does not have path's first step.
func (d *Doc) Line(path ...any) int {
	n := d.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, p := range path {
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if k, v := Key(n, p); k != nil {
				next, line = v, k.Line
			}
		case int:
			if n.Kind == yaml.SequenceNode && p >= 0 && p < len(n.Content) {
				next, line = n.Content[p], n.Content[p].Line
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

// Key returns the key and value nodes of key in mapping n (the first, if repeated); nil, nil
// when n is not a mapping or has no such key. Aliases are not followed.
func Key(n *yaml.Node, key string) (k, v *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}

func keyPath(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, p)
		}
	}
	return b.String()
}
