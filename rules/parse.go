package rules

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"breachd/event"
	"breachd/yamlx"
)

var (
	fileKeys     = []string{"rules"}
	ruleKeys     = []string{"id", "title", "description", "severity", "tags", "when", "condition", "window", "suppress", "exceptions", "respond", "summary", "tests"}
	windowKeys   = []string{"key", "count_if", "distinct", "over"}
	suppressKeys = []string{"key", "for"}
	exceptKeys   = []string{"field", "values", "reason"}
	idPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)
)

// MaxWindow bounds a window's `over` and a suppression's `for`: state is kept in memory.
const MaxWindow = 7 * 24 * time.Hour

// Load reads rule files and compiles them into one Set. Each path is a file, or a directory
// searched recursively for *.yaml and *.yml files (in lexical order). Errors of all files are
// reported together; each is a *CompileError (use errors.As) unless a file cannot be read.
func Load(paths ...string) (*Set, error) {
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("load rules: %w", err)
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && isRuleFile(path) {
				files = append(files, path)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("load rules from %s: %w", p, err)
		}
	}
	return parseFiles(files, os.ReadFile)
}

// LoadFS compiles every *.yaml and *.yml file in fsys, as Load does for a directory.
func LoadFS(fsys fs.FS) (*Set, error) {
	var files []string
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && isRuleFile(path) {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load rules: %w", err)
	}
	return parseFiles(files, func(name string) ([]byte, error) { return fs.ReadFile(fsys, name) })
}

func isRuleFile(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ext == ".yaml" || ext == ".yml"
}

func parseFiles(files []string, read func(string) ([]byte, error)) (*Set, error) {
	slices.Sort(files)
	var all []*rule
	var errs []error
	for _, f := range files {
		data, err := read(f)
		if err != nil {
			return nil, fmt.Errorf("load rules: %w", err)
		}
		rs, err := parseFile(f, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, rs...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return newSet(all)
}

// Parse compiles the rules of one YAML document; name is used in errors (usually the file
// name). Every error is a *CompileError; several are joined with errors.Join.
func Parse(name string, data []byte) (*Set, error) {
	rs, err := parseFile(name, data)
	if err != nil {
		return nil, err
	}
	return newSet(rs)
}

func parseFile(name string, data []byte) ([]*rule, error) {
	doc, err := yamlx.Parse(name, data)
	if err != nil {
		e := &CompileError{File: name, Msg: err.Error()}
		var ye *yamlx.Error
		if errors.As(err, &ye) {
			e.Line, e.Msg = ye.Line, ye.Err.Error()
		}
		return nil, e
	}
	if len(doc.Content) == 0 {
		return nil, &CompileError{File: name, Msg: "empty file: want a `rules:` list"}
	}
	s := newSource(name, data)
	top := deref(doc.Content[0])
	f := s.fields(top, "file", fileKeys)
	var out []*rule
	if list := f["rules"]; list == nil && f != nil {
		s.errAt(top, "missing key \"rules\"")
	} else if list != nil && list.Kind != yaml.SequenceNode {
		s.errAt(list, "rules: want a list of rules")
	} else if list != nil {
		for _, rn := range list.Content {
			if r := s.decodeRule(deref(rn)); r != nil {
				out = append(out, r)
			}
		}
	}
	if len(s.errs) > 0 {
		return nil, errors.Join(s.errs...)
	}
	return out, nil
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// fields checks that n is a mapping with only allowed, unrepeated keys and returns its values
// by key; nil when n is not a mapping.
func (s *source) fields(n *yaml.Node, what string, allowed []string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		s.errAt(n, "%s: want a mapping", what)
		return nil
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		switch {
		case !slices.Contains(allowed, k.Value):
			s.errAt(k, "unknown key %q in %s (want one of %s)", k.Value, what, strings.Join(allowed, ", "))
		case out[k.Value] != nil:
			s.errAt(k, "key %q repeated in %s", k.Value, what)
		default:
			out[k.Value] = v
		}
	}
	return out
}

// item is one mapping of a list, with its fields by key.
type item struct {
	index  int // in the list
	node   *yaml.Node
	fields map[string]*yaml.Node
}

// items checks that n (the value of key list) is a list of mappings with only allowed keys
// (see fields) and returns them; the items that are not are reported and left out.
func (s *source) items(n *yaml.Node, list, what string, allowed []string) []item {
	if n.Kind != yaml.SequenceNode {
		s.errAt(n, "%s: want a list", list)
		return nil
	}
	var out []item
	for i, in := range n.Content {
		in = deref(in)
		if f := s.fields(in, what, allowed); f != nil {
			out = append(out, item{index: i, node: in, fields: f})
		}
	}
	return out
}

// need returns the value under key of the mapping parent (fields f), reporting at parent when
// it is missing; what names parent in the message.
func (s *source) need(f map[string]*yaml.Node, parent *yaml.Node, what, key string) *yaml.Node {
	n := f[key]
	if n == nil {
		s.errAt(parent, "%s: missing key %q", what, key)
	}
	return n
}

// str returns the scalar under key; "" when absent (an error if required) or null.
func (s *source) str(f map[string]*yaml.Node, parent *yaml.Node, key string, required bool) string {
	n := f[key]
	switch {
	case n == nil:
		if required {
			s.errAt(parent, "missing key %q", key)
		}
		return ""
	case n.Tag == "!!null":
		if required {
			s.errAt(n, "%s: want a value", key)
		}
		return ""
	case n.Kind != yaml.ScalarNode:
		s.errAt(n, "%s: want a single value", key)
		return ""
	}
	return n.Value
}

// strList returns the list of scalars under key (nil when absent).
func (s *source) strList(f map[string]*yaml.Node, key string) []string {
	n := f[key]
	if n == nil || n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		s.errAt(n, "%s: want a list", key)
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		c = deref(c)
		if c.Kind != yaml.ScalarNode || c.Value == "" {
			s.errAt(c, "%s: want a list of non-empty values", key)
			continue
		}
		out = append(out, c.Value)
	}
	return out
}

// duration parses the duration under key (Go syntax: 90s, 10m, 1h30m), in (0, MaxWindow].
func (s *source) duration(f map[string]*yaml.Node, parent *yaml.Node, key string) time.Duration {
	v := s.str(f, parent, key, true)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		s.errAt(f[key], "%s: %q is not a duration (e.g. 90s, 10m, 1h)", key, v)
	case d <= 0 || d > MaxWindow:
		s.errAt(f[key], "%s: %s is outside (0, %s]", key, v, MaxWindow)
	default:
		return d
	}
	return 0
}

// intValue parses the integer under key; ok is false (and an error recorded) when it is not one.
func (s *source) intValue(f map[string]*yaml.Node, parent *yaml.Node, key string) (int, bool) {
	v := s.str(f, parent, key, true)
	if v == "" {
		return 0, false
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		s.errAt(f[key], "%s: %q is not a non-negative integer", key, v)
		return 0, false
	}
	return i, true
}

// kindsOf validates a `when` list.
func (s *source) kindsOf(f map[string]*yaml.Node, parent *yaml.Node, r *rule) {
	when := s.strList(f, "when")
	if f["when"] == nil {
		s.errAt(parent, "missing key \"when\" (a list of event kinds: auth, access, directory)")
	}
	for i, w := range when {
		k := kindIndex(event.Kind(w))
		switch {
		case k < 0:
			s.errAt(f["when"].Content[i], "when: unknown event kind %q (want auth, access or directory)", w)
		case r.kinds[k]:
			s.errAt(f["when"].Content[i], "when: %q repeated", w)
		default:
			r.kinds[k] = true
			r.info.When = append(r.info.When, event.Kind(w))
		}
	}
}

// packFS holds the shipped default rules, rules/pack/*.yaml.
//
//go:embed pack/*.yaml
var packFS embed.FS

// DefaultFS returns the shipped rule files (the pack directory), for listing and exporting.
func DefaultFS() fs.FS {
	sub, err := fs.Sub(packFS, "pack")
	if err != nil { // "pack" is a valid path: unreachable
		return packFS
	}
	return sub
}

// Default compiles the shipped rule pack. Its files are named pack/<file> in errors and in
// Rule.File.
func Default() (*Set, error) {
	set, err := LoadFS(packFS)
	if err != nil {
		return nil, fmt.Errorf("default rule pack: %w", err)
	}
	return set, nil
}

// LoadPack compiles the rule files and directories of paths (directories are searched for
// *.yaml and *.yml; blank entries are ignored), or the shipped default pack when there are none.
func LoadPack(paths []string) (*Set, error) {
	if paths = PackPaths(paths); len(paths) == 0 {
		return Default()
	}
	return Load(paths...)
}

// PackPaths are the non-blank entries of paths, trimmed.
func PackPaths(paths []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// CompileErrors returns every *CompileError in err, which may join several (Load
// joins the errors of all files, and each file's errors).
func CompileErrors(err error) []*CompileError {
	var out []*CompileError
	var walk func(error)
	walk = func(e error) {
		switch x := e.(type) {
		case *CompileError:
			out = append(out, x)
		case interface{ Unwrap() []error }:
			for _, c := range x.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		}
	}
	walk(err)
	return out
}
