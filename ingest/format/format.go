package format

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"breachd/event"
	"breachd/ingest"
)

// ErrSkip is ingest.ErrSkip, returned (wrapped, with the reason) by a parser for a record that
// is well formed but is not an event: a SimpleSAMLphp debug line, an ECS document that is not
// about authentication, a mapped record that the mapping's skip_if says to ignore. The pipeline
// counts such a record as skipped and does not dead-letter it: dead-lettering every debug line
// of an IdP log would bury the real rejects.
var ErrSkip = ingest.ErrSkip

// MultiParser is ingest.MultiParser: one raw record to any number of canonical events, for
// inputs that wrap several events in one record (an Azure Monitor {"records":[...]} batch from
// Event Hub). An error, or one invalid event, rejects the whole record.
type MultiParser = ingest.MultiParser

// invalid returns an *event.InvalidError naming the source field at fault.
func invalid(field, format string, args ...any) error {
	return &event.InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// skipf wraps ErrSkip with why the record was skipped, for logs and tests.
func skipf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSkip, fmt.Sprintf(format, args...))
}

// builtins are the formats Lookup knows, each with its default options.
var builtins = map[string]func() ingest.Parser{
	"canonical":     ingest.Canonical,
	"simplesamlphp": func() ingest.Parser { return SimpleSAMLphp(SimpleSAMLphpOptions{}) },
	"entra":         func() ingest.Parser { return Entra(EntraOptions{}) },
	"ecs":           func() ingest.Parser { return ECS(ECSOptions{}) },
}

// Names returns the names of the built-in formats, sorted.
func Names() []string { return slices.Sorted(maps.Keys(builtins)) }

// Lookup returns the built-in format called name with its default options (see each format's
// Options type for what the defaults are). Formats that need configuration (a mapping, an
// organisation override) are built with their own constructors instead.
func Lookup(name string) (ingest.Parser, error) {
	mk, ok := builtins[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return nil, fmt.Errorf("unknown log format %q (known: %s; or a mapping file)", name, strings.Join(Names(), ", "))
	}
	return mk(), nil
}

// ErrTwoFormats is returned by Select when a format is named both ways.
var ErrTwoFormats = errors.New("a built-in format and a mapping file exclude each other")

// Select returns the format a person names for some input: the built-in format called name
// (empty or "canonical": canonical JSON), or, when mapping is set, the mapping file at that
// path. Naming a built-in format other than canonical and a mapping is ErrTwoFormats. With
// check set it only checks (the mapping file is not read).
func Select(name, mapping string, check bool) (ingest.Format, error) {
	canonical := name == "" || strings.EqualFold(strings.TrimSpace(name), "canonical")
	switch {
	case mapping != "" && !canonical:
		return nil, ErrTwoFormats
	case mapping != "" && check:
		return nil, nil
	case mapping != "":
		m, err := LoadMapping(mapping)
		if err != nil {
			return nil, err
		}
		return m, nil
	case canonical:
		name = "canonical"
	}
	p, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// orgOf returns the realm of a name@realm principal, lower-cased, or "" when there is none.
func orgOf(principal string) string {
	i := strings.LastIndexByte(principal, '@')
	if i < 0 || i == len(principal)-1 {
		return ""
	}
	return strings.ToLower(principal[i+1:])
}

// countryCode returns c upper-cased when it is two ASCII letters, else "".
func countryCode(c string) string {
	if len(c) != 2 {
		return ""
	}
	b := []byte(strings.ToUpper(c))
	for _, x := range b {
		if x < 'A' || x > 'Z' {
			return ""
		}
	}
	return string(b)
}

func isSkip(err error) bool { return errors.Is(err, ErrSkip) }

func itoa(i int) string { return strconv.Itoa(i) }

// dotted returns "."+f, or "" for an empty field.
func dotted(f string) string {
	if f == "" {
		return ""
	}
	return "." + f
}
