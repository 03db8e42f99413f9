package yamlx

import (
	"errors"
	"strings"
	"testing"
)

type config struct {
	Name   string `yaml:"name"`
	Routes []struct {
		Channels []string `yaml:"channels"`
	} `yaml:"routes"`
	Retry struct {
		Max int `yaml:"max"`
	} `yaml:"retry"`
}

func TestDecode(t *testing.T) {
	data := []byte("name: x\nroutes:\n  - channels: [a,\n               b]\nretry: {max: 3}\n")
	var c config
	doc, err := Decode("n.yaml", data, &c)
	if err != nil || c.Name != "x" || len(c.Routes) != 1 || c.Retry.Max != 3 {
		t.Fatalf("Decode: %+v, %v", c, err)
	}
	for _, tc := range []struct {
		path []any
		want string
	}{
		{[]any{"routes", 0, "channels", 1}, "n.yaml:4: routes[0].channels[1]: bad"},
		{[]any{"retry", "max"}, "n.yaml:5: retry.max: bad"},
		{[]any{"routes", 3}, "n.yaml:2: routes[3]: bad"}, // the deepest node that exists
		{[]any{"default"}, "n.yaml: default: bad"},       // no such key: no line
		{nil, "n.yaml: bad"},
	} {
		e := doc.At(errors.New("bad"), tc.path...)
		if e.Error() != tc.want {
			t.Errorf("At(%v) = %q, want %q", tc.path, e.Error(), tc.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"unknown key", "name: x\nretry:\n  max: 3\n  maks: 4\n", 4, "n.yaml:4: field maks not found"},
		{"wrong type", "name: x\nretry: {max: many}\n", 2, "n.yaml:2: cannot unmarshal !!str `many` into int"},
		{"two problems", "nme: x\nretry: {mx: 1}\n", 1, "n.yaml:1: field nme not found; line 2: field mx not found"},
		{"syntax", "name: [x\n", 1, "n.yaml:1: yaml: did not find expected ',' or ']'"},
		{"empty", "", 0, "n.yaml: empty document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c config
			_, err := Decode("n.yaml", []byte(tc.yaml), &c)
			var e *Error
			if !errors.As(err, &e) || e.Line != tc.line || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v (line %d), want line %d and %q", err, e.Line, tc.line, tc.want)
			}
		})
	}
	// Without a file name the line still shows.
	var c config
	if _, err := Decode("", []byte("nme: x\n"), &c); err == nil || err.Error() != "line 1: field nme not found" {
		t.Errorf("unnamed document: %v", err)
	}
}

func TestKey(t *testing.T) {
	root, err := Parse("k.yaml", []byte("a: 1\nb:\n  c: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	top := root.Content[0]
	if k, v := Key(top, "b"); k == nil || k.Line != 2 || v == nil {
		t.Fatalf("Key(b) = %v, %v", k, v)
	}
	if k, v := Key(top, "c"); k != nil || v != nil {
		t.Error("Key found a key of a nested mapping")
	}
	_, scalar := Key(top, "a")
	if k, v := Key(scalar, "x"); scalar == nil || k != nil || v != nil {
		t.Error("Key on a scalar found something")
	}
}
