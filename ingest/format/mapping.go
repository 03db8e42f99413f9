package format

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"breachd/event"
	"breachd/ingest"
	"breachd/yamlx"
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
	var f mappingFile
	doc, err := yamlx.Decode("", data, &f)
	if err != nil {
		return nil, err
	}

	if !mappingName.MatchString(f.Name) {
		return nil, doc.At(fmt.Errorf("%q must be 1-32 of a-z, 0-9, - and _ (it prefixes generated ids)", f.Name), "name")
	}
	m := &Mapping{name: f.Name, kind: event.Kind(f.Kind)}
	allowed, ok := mappingFields[m.kind]
	if !ok {
		return nil, doc.At(fmt.Errorf("%q is not access or auth", f.Kind), "kind")
	}
	for _, r := range allowed.required {
		if _, ok := f.Fields[r]; !ok {
			return nil, doc.At(fmt.Errorf("%s is required for kind %s", r, f.Kind), "fields")
		}
	}
	for _, n := range slices.Sorted(maps.Keys(f.Fields)) {
		if !slices.Contains(allowed.required, n) && !slices.Contains(allowed.optional, n) {
			return nil, doc.At(fmt.Errorf("not a field of a %s event (known: %s)", f.Kind,
				strings.Join(append(slices.Clone(allowed.required), allowed.optional...), ", ")), "fields", n)
		}
		cf, err := compileField(n, f.Fields[n], doc)
		if err != nil {
			return nil, err
		}
		m.fields = append(m.fields, cf)
	}
	if f.SkipIf != "" {
		p, err := expr.Compile(f.SkipIf, expr.Env(map[string]any{}), expr.AllowUndefinedVariables(), expr.AsBool())
		if err != nil {
			return nil, doc.At(err, "skip_if")
		}
		m.skipIf = p
	}
	return m, nil
}

func compileField(name string, s fieldSpec, doc *yamlx.Doc) (compiledField, error) {
	cf := compiledField{name: name, path: s.Path, value: s.Value, mapping: s.Map, def: s.Default}
	set := 0
	for _, b := range []bool{s.Path != "", s.Value != nil, s.Expr != ""} {
		if b {
			set++
		}
	}
	if set != 1 {
		return cf, doc.At(errors.New("set exactly one of path, value and expr"), "fields", name)
	}
	if s.Path != "" && slices.Contains(strings.Split(s.Path, "."), "") {
		return cf, doc.At(fmt.Errorf("%q has an empty segment (want a.b.0.c)", s.Path), "fields", name, "path")
	}
	if s.Expr != "" {
		p, err := expr.Compile(s.Expr, expr.Env(map[string]any{}), expr.AllowUndefinedVariables())
		if err != nil {
			return cf, doc.At(err, "fields", name, "expr")
		}
		cf.prog = p
	}
	if allowed, ok := enumFields[name]; ok {
		check := func(v string, keys ...any) error {
			if !slices.Contains(allowed, v) {
				return doc.At(fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", ")), append([]any{"fields", name}, keys...)...)
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
		for _, k := range slices.Sorted(maps.Keys(s.Map)) {
			if err := check(s.Map[k], "map", k); err != nil {
				return cf, err
			}
		}
	}
	if name != "time" {
		if s.Format != "" || s.Zone != "" {
			return cf, doc.At(errors.New("format and zone apply only to time"), "fields", name)
		}
		return cf, nil
	}
	if s.Map != nil {
		return cf, doc.At(errors.New("time cannot have a map"), "fields", name, "map")
	}
	cf.timeFmt = s.Format
	switch s.Format {
	case "", "rfc3339", "unix", "unix_ms":
		if s.Zone != "" {
			return cf, doc.At(errors.New("zone applies only to a custom layout (these formats carry their own offset)"), "fields", name, "zone")
		}
	default:
		if s.Zone == "" {
			return cf, doc.At(errors.New("a custom layout needs a zone (e.g. Europe/Oslo or UTC) for times without an offset"), "fields", name, "format")
		}
		loc, err := time.LoadLocation(s.Zone)
		if err != nil {
			return cf, doc.At(err, "fields", name, "zone")
		}
		cf.location = loc
	}
	return cf, nil
}

var errNotNumber = errors.New("not a number")
