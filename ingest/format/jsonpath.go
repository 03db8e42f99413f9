package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
)

// maxJSONDepth bounds the nesting decodeObject accepts, so that a hostile record cannot make
// the conversion below recurse without bound (encoding/json itself stops at 10,000 levels).
const maxJSONDepth = 64

// decodeObject decodes one JSON object. Numbers become int64 when they are integers that fit,
// else float64, so that ids and counts keep every digit and expr compares them as numbers.
func decodeObject(data []byte) (map[string]any, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	v, err := convertNumbers(m, 0)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

func convertNumbers(v any, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("nested deeper than 64 levels")
	}
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, errors.New("number out of range: " + x.String())
		}
		return f, nil
	case map[string]any:
		for k, e := range x {
			c, err := convertNumbers(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[k] = c
		}
	case []any:
		for i, e := range x {
			c, err := convertNumbers(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[i] = c
		}
	}
	return v, nil
}

// lookup returns the value at a dotted path: "user.name", "targets.0.id". At each object the
// longest run of remaining segments that is a key wins, so flat keys with dots ("event.id", as
// ECS allows) and nested objects both resolve, and mixtures of them. A numeric segment indexes
// an array. ok is false when the path does not exist or leads to null.
func lookup(root any, path string) (any, bool) {
	return lookupSegs(root, strings.Split(path, "."))
}

func lookupSegs(v any, segs []string) (any, bool) {
	if len(segs) == 0 {
		return v, v != nil
	}
	switch x := v.(type) {
	case map[string]any:
		for n := len(segs); n >= 1; n-- {
			key := segs[0]
			if n > 1 {
				key = strings.Join(segs[:n], ".")
			}
			if e, ok := x[key]; ok {
				if r, ok := lookupSegs(e, segs[n:]); ok {
					return r, true
				}
			}
		}
	case []any:
		i, err := strconv.Atoi(segs[0])
		if err != nil || i < 0 || i >= len(x) {
			return nil, false
		}
		return lookupSegs(x[i], segs[1:])
	}
	return nil, false
}

// stringOf renders a scalar JSON value as a string: strings as they are, integers in decimal,
// other numbers in the shortest form, booleans as true/false. ok is false for objects,
// arrays and null.
func stringOf(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int:
		return strconv.Itoa(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// lookupString is lookup followed by stringOf; a missing path, a non-scalar or a blank
// string give "".
func lookupString(root any, path string) string {
	v, ok := lookup(root, path)
	if !ok {
		return ""
	}
	s, _ := stringOf(v)
	return strings.TrimSpace(s)
}
