package event

import (
	"bytes"
	"hash/maphash"
	"strconv"
	"sync/atomic"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeFast decodes data, one JSON object with no white space around it, into w exactly as
// encoding/json.Unmarshal(data, w) would, for the inputs it handles: the shape ingest's Marshal
// writes and most sources send (keys spelled as the contract spells them, string escapes other
// than UTF-16 surrogates, valid UTF-8, integer records, scalar unknown fields, a time without
// escapes). For anything else (invalid JSON, wrong types, invalid UTF-8, surrogate escapes,
// keys that only match a field case-insensitively, objects or arrays in unknown fields) it
// returns false, leaving w in an unspecified state, and the caller decodes with encoding/json,
// which then also gives the error. The time and records it leaves in w.rawTime and w.records
// (not w.Time and w.Records), to allocate nothing for them. FuzzDecodeFast checks the two agree
// on every input decodeFast accepts.
func decodeFast(data []byte, w *wire) bool {
	d := decoder{data: data}
	if !d.consume('{') {
		return false
	}
	d.ws()
	if d.consume('}') {
		return d.i == len(d.data)
	}
	for {
		key, ok := d.key()
		if !ok {
			return false
		}
		d.ws()
		if !d.consume(':') {
			return false
		}
		d.ws()
		if !d.value(key, w) {
			return false
		}
		d.ws()
		switch {
		case d.consume(','):
			d.ws()
		case d.consume('}'):
			d.ws()
			return d.i == len(d.data)
		default:
			return false
		}
	}
}

// decoder reads data from position i.
type decoder struct {
	data []byte
	i    int
}

func (d *decoder) ws() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) consume(c byte) bool {
	if d.i < len(d.data) && d.data[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *decoder) literal(lit string) bool {
	if bytes.HasPrefix(d.data[d.i:], []byte(lit)) {
		d.i += len(lit)
		return true
	}
	return false
}

// key reads an object key without escapes.
func (d *decoder) key() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	start := d.i
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			d.i++
			return d.data[start : d.i-1], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
		d.i++
	}
	return nil, false
}

// value decodes the value of key into its field of w (or skips it for an unknown key).
func (d *decoder) value(key []byte, w *wire) bool {
	e := &w.Event
	switch string(key) {
	case "kind":
		s := string(e.Kind)
		if !d.str(&s, kinds) {
			return false
		}
		e.Kind = Kind(s)
		return true
	case "id":
		return d.str(&e.ID, nil)
	case "time":
		return d.rawStr(&w.rawTime)
	case "org":
		return d.internedStr(&e.Org)
	case "user":
		return d.str(&e.User, nil)
	case "service":
		return d.internedStr(&e.Service)
	case "service_name":
		return d.internedStr(&e.ServiceName)
	case "result":
		return d.str(&e.Result, Results)
	case "method":
		return d.internedStr(&e.Method)
	case "ip":
		return d.str(&e.IP, nil)
	case "country":
		return d.internedStr(&e.Country)
	case "user_agent":
		return d.internedStr(&e.UserAgent)
	case "actor":
		return d.str(&e.Actor, nil)
	case "actor_role":
		return d.str(&e.ActorRole, ActorRoles)
	case "action":
		return d.str(&e.Action, Actions)
	case "subject":
		return d.str(&e.Subject, nil)
	case "resource":
		return d.str(&e.Resource, Resources)
	case "group":
		return d.internedStr(&e.Group)
	case "records":
		return d.int64(&w.records, &w.hasRecords)
	case "op":
		return d.str(&e.Op, Ops)
	case "affiliations":
		return d.strings(&e.Affiliations)
	case "primary_affiliation":
		return d.str(&e.PrimaryAffiliation, affiliationOK)
	case "schools":
		return d.strings(&e.Schools)
	case "nin_hash":
		return d.str(&e.NINHash, nil)
	case "hidden_identity":
		return d.bool(&e.HiddenIdentity)
	case "active":
		return d.boolPtr(&e.Active)
	case "go_type":
		return d.str(&e.GoType, GoTypes)
	case "role":
		return d.str(&e.Role, GroupRoles)
	case "contact_teacher":
		return d.bool(&e.ContactTeacher)
	case "school":
		return d.internedStr(&e.School)
	case "change":
		return d.str(&e.Change, Changes)
	case "guardian":
		return d.str(&e.Guardian, nil)
	case "child":
		return d.str(&e.Child, nil)
	case "status":
		return d.str(&e.Status, Statuses)
	}
	// encoding/json matches keys case-insensitively (bytes.EqualFold) when no field has the
	// exact name: leave such keys to it.
	for _, name := range fieldNames {
		if bytes.EqualFold(key, []byte(name)) {
			return false
		}
	}
	return d.skipScalar()
}

// fieldNames are the JSON names of wire's fields.
var fieldNames = []string{"kind", "id", "time", "org", "user", "service", "service_name", "result",
	"method", "ip", "country", "user_agent", "actor", "actor_role", "action", "subject", "resource",
	"group", "records", "op", "affiliations", "primary_affiliation", "schools", "nin_hash",
	"hidden_identity", "active", "go_type", "role", "contact_teacher", "school", "change",
	"guardian", "child", "status"}

var kinds = []string{string(KindAuth), string(KindAccess), string(KindDirectory)}

// str decodes a string into *dst; null leaves *dst as it is. A value equal to one of common
// is taken from it, without allocating.
func (d *decoder) str(dst *string, common []string) bool {
	if d.literal("null") {
		return true
	}
	raw, plain, ok := d.quoted()
	if !ok {
		return false
	}
	if !plain {
		return d.unquote(dst, raw)
	}
	for _, c := range common {
		if string(raw) == c {
			*dst = c
			return true
		}
	}
	*dst = string(raw)
	return true
}

// internedStr decodes a string into *dst as str does, taking a plain value from interned (a
// field with few distinct values: org, service, country, user agent, …), so that decoding it
// again does not allocate.
func (d *decoder) internedStr(dst *string) bool {
	if d.literal("null") {
		return true
	}
	raw, plain, ok := d.quoted()
	if !ok {
		return false
	}
	if !plain {
		return d.unquote(dst, raw)
	}
	*dst = intern(raw)
	return true
}

// interned holds values of the fields with few distinct values: a slot, chosen by the hash of
// a value, holds the last value that hashed to it. Safe for concurrent use; a miss costs the
// string and a pointer to it. Only values of at most maxInterned bytes are kept, so the table
// holds at most len(interned) × maxInterned bytes whatever the input (a source's user agent or
// group may be long, and values are interned before validation).
var (
	interned   [4096]atomic.Pointer[string]
	internSeed = maphash.MakeSeed()
)

const maxInterned = 128

// intern returns raw as a string, from interned when it is there, else adding it.
func intern(raw []byte) string {
	if len(raw) > maxInterned {
		return string(raw)
	}
	slot := &interned[maphash.Bytes(internSeed, raw)%uint64(len(interned))]
	if p := slot.Load(); p != nil && *p == string(raw) {
		return *p
	}
	s := string(raw)
	slot.Store(&s)
	return s
}

// rawStr sets *dst to the bytes of a string without escapes, not copied; null sets it to nil.
// A string with escapes is left to encoding/json.
func (d *decoder) rawStr(dst *[]byte) bool {
	if d.literal("null") {
		*dst = nil
		return true
	}
	raw, plain, ok := d.quoted()
	if !ok || !plain {
		return false
	}
	*dst = raw
	return true
}

// strings decodes an array of strings; null sets *dst to nil, [] to an empty slice.
func (d *decoder) strings(dst *[]string) bool {
	if d.literal("null") {
		*dst = nil
		return true
	}
	if !d.consume('[') {
		return false
	}
	out := []string{}
	d.ws()
	if d.consume(']') {
		*dst = out
		return true
	}
	for {
		if d.i < len(d.data) && d.data[d.i] != '"' {
			return false // null or another type as an element
		}
		var s string
		if !d.str(&s, nil) {
			return false
		}
		out = append(out, s)
		d.ws()
		switch {
		case d.consume(','):
			d.ws()
		case d.consume(']'):
			*dst = out
			return true
		default:
			return false
		}
	}
}

func (d *decoder) bool(dst *bool) bool {
	switch {
	case d.literal("true"):
		*dst = true
	case d.literal("false"):
		*dst = false
	case d.literal("null"):
	default:
		return false
	}
	return true
}

func (d *decoder) boolPtr(dst **bool) bool {
	var b bool
	switch {
	case d.literal("true"):
		b = true
	case d.literal("false"):
	case d.literal("null"):
		*dst = nil
		return true
	default:
		return false
	}
	*dst = &b
	return true
}

// int64 decodes an integer without fraction or exponent that fits an int64 into *dst and sets
// *set; null clears *set.
func (d *decoder) int64(dst *int64, set *bool) bool {
	if d.literal("null") {
		*set = false
		return true
	}
	start := d.i
	d.consume('-')
	digits := d.i
	for d.i < len(d.data) && '0' <= d.data[d.i] && d.data[d.i] <= '9' {
		d.i++
	}
	n := d.i - digits
	if n == 0 || n > 1 && d.data[digits] == '0' {
		return false
	}
	if d.i < len(d.data) && (d.data[d.i] == '.' || d.data[d.i] == 'e' || d.data[d.i] == 'E') {
		return false
	}
	v, err := strconv.ParseInt(string(d.data[start:d.i]), 10, 64)
	if err != nil {
		return false
	}
	*dst, *set = v, true
	return true
}

// skipScalar skips a string, a number, true, false or null.
func (d *decoder) skipScalar() bool {
	if d.literal("null") || d.literal("true") || d.literal("false") {
		return true
	}
	if d.i < len(d.data) && d.data[d.i] == '"' {
		raw, plain, ok := d.quoted()
		if !ok || plain {
			return ok
		}
		var s string
		return d.unquote(&s, raw) // checks the escapes
	}
	// A number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
	d.consume('-')
	if d.consume('0') {
		// no more integer digits
	} else if !d.digits() {
		return false
	}
	if d.consume('.') && !d.digits() {
		return false
	}
	if d.consume('e') || d.consume('E') {
		if !d.consume('+') {
			d.consume('-')
		}
		if !d.digits() {
			return false
		}
	}
	return true
}

// digits skips one or more decimal digits.
func (d *decoder) digits() bool {
	start := d.i
	for d.i < len(d.data) && '0' <= d.data[d.i] && d.data[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

// quoted reads a string token and returns its bytes between the quotes; plain says it has no
// escapes and is valid UTF-8, so the bytes are the value.
func (d *decoder) quoted() (raw []byte, plain, ok bool) {
	if !d.consume('"') {
		return nil, false, false
	}
	start := d.i
	plain = true
	ascii := true
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			d.i++
			raw = d.data[start : d.i-1]
			if !ascii && !utf8.Valid(raw) {
				return nil, false, false // encoding/json replaces the bytes with U+FFFD
			}
			return raw, plain, true
		case c == '\\':
			plain = false
			d.i++ // the escaped byte is checked by unquote; it is never the closing quote
		case c < 0x20:
			return nil, false, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		d.i++
	}
	return nil, false, false
}

// unquote decodes the escapes of raw (valid UTF-8 between the quotes) into *dst.
func (d *decoder) unquote(dst *string, raw []byte) bool {
	buf := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			buf = append(buf, c)
			continue
		}
		i++
		switch raw[i] {
		case '"', '\\', '/':
			buf = append(buf, raw[i])
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := hex4(raw[i+1:])
			if !ok || utf16.IsSurrogate(r) {
				return false // surrogates (paired or not) are left to encoding/json
			}
			buf = utf8.AppendRune(buf, r)
			i += 4
		default:
			return false
		}
	}
	*dst = string(buf)
	return true
}

// hex4 decodes the four hexadecimal digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
