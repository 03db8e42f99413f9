package format

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"breachd/event"
	"breachd/ingest"
)

// mappingFile is the YAML shape of a declarative mapping (see the package documentation).
type mappingFile struct {
	Name   string               `yaml:"name"`
	Kind   string               `yaml:"kind"`
	SkipIf string               `yaml:"skip_if"`
	Fields map[string]fieldSpec `yaml:"fields"`
}

// fieldSpec says where one canonical field comes from: exactly one of Path, Value and Expr.
type fieldSpec struct {
	Path    string            `yaml:"path"`
	Value   *string           `yaml:"value"`
	Expr    string            `yaml:"expr"`
	Map     map[string]string `yaml:"map"`
	Default *string           `yaml:"default"`
	Format  string            `yaml:"format"` // time only: rfc3339 (default), unix, unix_ms, or a Go layout
	Zone    string            `yaml:"zone"`   // time only: the zone of a layout without offset
}

// mappingFields lists the canonical fields a mapping may set per kind; required ones first.
var mappingFields = map[event.Kind]struct{ required, optional []string }{
	event.KindAccess: {
		required: []string{"time", "org", "actor", "actor_role", "action", "subject", "resource", "service"},
		optional: []string{"id", "group", "records", "ip", "country"},
	},
	event.KindAuth: {
		required: []string{"time", "org", "user", "service", "result"},
		optional: []string{"id", "service_name", "method", "ip", "country", "user_agent"},
	},
}

// enumFields are the fields whose constants and map targets are checked when the mapping loads.
var enumFields = map[string][]string{
	"actor_role": event.ActorRoles, "action": event.Actions, "resource": event.Resources, "result": event.Results,
}

var mappingName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// compiledField is a fieldSpec ready to evaluate.
type compiledField struct {
	name     string // canonical field
	path     string
	value    *string
	prog     *vm.Program
	mapping  map[string]string
	def      *string
	timeFmt  string
	location *time.Location
}

// Mapping is a compiled declarative mapping. Its Parse method is an ingest.Parser; it is
// safe for concurrent use.
type Mapping struct {
	name   string
	kind   event.Kind
	skipIf *vm.Program
	fields []compiledField // sorted by name, so errors come in a stable order
}

// LoadMapping reads and compiles the mapping file at path. Errors name the file and, where
// the fault is in the file, the line.
func LoadMapping(path string) (ingest.Parser, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	m, err := CompileMapping(data)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	return m.Parse, nil
}

// ParseMapping compiles a mapping from its YAML text.
func ParseMapping(data []byte) (ingest.Parser, error) {
	m, err := CompileMapping(data)
	if err != nil {
		return nil, err
	}
	return m.Parse, nil
}

// CompileMapping decodes data strictly (unknown keys are errors), checks it and compiles its
// expressions once.
func CompileMapping(data []byte) (*Mapping, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	var f mappingFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	at := func(keys ...string) string {
		return fmt.Sprintf("line %d: %s", keyLine(&root, keys...), strings.Join(keys, "."))
	}

	if !mappingName.MatchString(f.Name) {
		return nil, fmt.Errorf("%s: %q must be 1-32 of a-z, 0-9, - and _ (it prefixes generated ids)", at("name"), f.Name)
	}
	m := &Mapping{name: f.Name, kind: event.Kind(f.Kind)}
	allowed, ok := mappingFields[m.kind]
	if !ok {
		return nil, fmt.Errorf("%s: %q is not access or auth", at("kind"), f.Kind)
	}
	for _, r := range allowed.required {
		if _, ok := f.Fields[r]; !ok {
			return nil, fmt.Errorf("%s: %s is required for kind %s", at("fields"), r, f.Kind)
		}
	}
	names := make([]string, 0, len(f.Fields))
	for n := range f.Fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !slices.Contains(allowed.required, n) && !slices.Contains(allowed.optional, n) {
			return nil, fmt.Errorf("%s: not a field of a %s event (known: %s)", at("fields", n), f.Kind,
				strings.Join(append(slices.Clone(allowed.required), allowed.optional...), ", "))
		}
		cf, err := compileField(n, f.Fields[n], at)
		if err != nil {
			return nil, err
		}
		m.fields = append(m.fields, cf)
	}
	if f.SkipIf != "" {
		p, err := expr.Compile(f.SkipIf, expr.Env(map[string]any{}), expr.AllowUndefinedVariables(), expr.AsBool())
		if err != nil {
			return nil, fmt.Errorf("%s: %v", at("skip_if"), err)
		}
		m.skipIf = p
	}
	return m, nil
}

func compileField(name string, s fieldSpec, at func(...string) string) (compiledField, error) {
	cf := compiledField{name: name, path: s.Path, value: s.Value, mapping: s.Map, def: s.Default}
	set := 0
	for _, b := range []bool{s.Path != "", s.Value != nil, s.Expr != ""} {
		if b {
			set++
		}
	}
	if set != 1 {
		return cf, fmt.Errorf("%s: set exactly one of path, value and expr", at("fields", name))
	}
	if s.Path != "" && slices.Contains(strings.Split(s.Path, "."), "") {
		return cf, fmt.Errorf("%s: %q has an empty segment (want a.b.0.c)", at("fields", name, "path"), s.Path)
	}
	if s.Expr != "" {
		p, err := expr.Compile(s.Expr, expr.Env(map[string]any{}), expr.AllowUndefinedVariables())
		if err != nil {
			return cf, fmt.Errorf("%s: %v", at("fields", name, "expr"), err)
		}
		cf.prog = p
	}
	if allowed, ok := enumFields[name]; ok {
		check := func(v string, keys ...string) error {
			if !slices.Contains(allowed, v) {
				return fmt.Errorf("%s: %q is not one of %s", at(append([]string{"fields", name}, keys...)...), v, strings.Join(allowed, ", "))
			}
			return nil
		}
		if s.Value != nil {
			if err := check(*s.Value, "value"); err != nil {
				return cf, err
			}
		}
		if s.Default != nil {
			if err := check(*s.Default, "default"); err != nil {
				return cf, err
			}
		}
		for _, k := range sortedKeys(s.Map) {
			if err := check(s.Map[k], "map", k); err != nil {
				return cf, err
			}
		}
	}
	if name != "time" {
		if s.Format != "" || s.Zone != "" {
			return cf, fmt.Errorf("%s: format and zone apply only to time", at("fields", name))
		}
		return cf, nil
	}
	if s.Map != nil {
		return cf, fmt.Errorf("%s: time cannot have a map", at("fields", name, "map"))
	}
	cf.timeFmt = s.Format
	switch s.Format {
	case "", "rfc3339", "unix", "unix_ms":
		if s.Zone != "" {
			return cf, fmt.Errorf("%s: zone applies only to a custom layout (these formats carry their own offset)", at("fields", name, "zone"))
		}
	default:
		if s.Zone == "" {
			return cf, fmt.Errorf("%s: a custom layout needs a zone (e.g. Europe/Oslo or UTC) for times without an offset", at("fields", name, "format"))
		}
		loc, err := time.LoadLocation(s.Zone)
		if err != nil {
			return cf, fmt.Errorf("%s: %v", at("fields", name, "zone"), err)
		}
		cf.location = loc
	}
	return cf, nil
}

// keyLine returns the line of the deepest of keys found in the YAML document, or 1.
func keyLine(root *yaml.Node, keys ...string) int {
	n, line := root, 1
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
		line = n.Line
	}
	for _, k := range keys {
		if n.Kind != yaml.MappingNode {
			break
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				line, n, found = n.Content[i].Line, n.Content[i+1], true
				break
			}
		}
		if !found {
			break
		}
	}
	return line
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

var errNotNumber = errors.New("not a number")
