package event

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// decodeCases are inputs where decodeFast and encoding/json could part ways: each must either
// be left to encoding/json or decoded as it decodes them.
var decodeCases = []string{
	`{}`,
	`{"kind":"auth","kind":"access"}`,
	`{"kind":"auth","kind":null}`,
	`{"kind":null}`,
	`{"KIND":"auth"}`,
	`{"Kind":"auth","kind":"access"}`,
	`{"kind":"access","KInd":"auth"}`,
	"{\"\u212aind\":\"auth\"}", // KELVIN SIGN folds to k
	`{"ki\u006ed":"auth"}`,
	`{"time":"2026-11-02T08:00:00Z","time":null}`,
	`{"time":null,"time":"2026-11-02T08:00:00Z"}`,
	`{"records":1,"records":null}`,
	`{"records":-0}`, `{"records":0}`, `{"records":01}`, `{"records":1.0}`, `{"records":1e2}`,
	`{"records":-9223372036854775808}`, `{"records":9223372036854775808}`, `{"records":"3"}`,
	`{"records":-}`, `{"records":12x}`,
	`{"active":true}`, `{"active":false}`, `{"active":null}`, `{"active":true,"active":null}`, `{"active":1}`,
	`{"hidden_identity":true,"hidden_identity":null}`, `{"hidden_identity":"yes"}`,
	`{"schools":[]}`, `{"schools":null}`, `{"schools":["a","b"],"schools":["c"]}`, `{"schools":["a"],"schools":[]}`,
	`{"schools":["a",null]}`, `{"schools":[1]}`, `{"schools":["a",]}`, `{"schools":[ "a" , "b" ]}`,
	`{"user":"a\"b\\c\/d\b\f\n\r\t"}`, `{"user":"\u00e6\u0000\u2028"}`, `{"user":"\ud83d\ude00"}`, `{"user":"\ud83d"}`,
	`{"user":"\uD83D\uDE00x"}`, `{"user":"\u12"}`, `{"user":"\x"}`, `{"user":"\u00zz"}`,
	"{\"user\":\"j\xf8rgen\"}", "{\"user\":\"\xed\xa0\x80\"}", "{\"user\":\"\uFFFD\"}", "{\"user\":\"a\tb\"}",
	"{\"user_agent\":\"Mozilla/5.0 (X11) <b>&amp;</b> æøå\"}",
	`{"user":1}`, `{"user":true}`, `{"user":[]}`, `{"user":{}}`,
	`{"extra":1,"more":-1.5e+3,"s":"x\n","t":true,"n":null}`, `{"extra":{"a":1}}`, `{"extra":[1]}`,
	`{"extra":01}`, `{"extra":1.}`, `{"extra":.5}`, `{"extra":1e}`, `{"extra":"\q"}`, "{\"extra\":\"\xff\"}",
	`{"":"x"}`, `{"kind":"auth"} `, `{"kind":"auth"}x`, `{"kind":"auth"}{}`, `{"kind":"auth",}`, `{,}`,
	`{"kind" : "auth" ,	"id":"1"}`, "{\n\"kind\":\r\n\"auth\"\n}", `{"kind":"auth"`, `{"kind"}`, `{"kind":}`,
	`{"kind":tru}`, `{"active":truex}`, `{"active":nul}`,
}

func FuzzDecodeFast(f *testing.F) {
	for _, c := range append(decodeCases, contractExamples...) {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeFast(t, data)
	})
}

// checkDecodeFast checks that decodeFast decodes data as encoding/json does, or declines it.
func checkDecodeFast(t *testing.T, data []byte) bool {
	t.Helper()
	var fast wire
	if !decodeFast(data, &fast) {
		return false
	}
	if fast.Time != nil {
		t.Fatalf("decodeFast(%q) set Time, which it leaves to rawTime", data)
	}
	if fast.Records != nil {
		t.Fatalf("decodeFast(%q) set Records, which it leaves to records", data)
	}
	if fast.rawTime != nil { // encoding/json's form of it
		ts := string(fast.rawTime)
		fast.Time, fast.rawTime = &ts, nil
	}
	if fast.hasRecords {
		r := fast.records
		fast.Records = &r
	}
	fast.records, fast.hasRecords = 0, false
	var std wire
	if err := json.Unmarshal(data, &std); err != nil {
		t.Fatalf("decodeFast accepted %q, encoding/json rejects it: %v", data, err)
	}
	if !reflect.DeepEqual(fast, std) {
		t.Fatalf("decodeFast(%q) =\n%#v\nencoding/json:\n%#v", data, fast, std)
	}
	return true
}

// Our own output, the contract's examples and every seed of FuzzParse decode alike either way;
// the first two take the fast path.
func TestDecodeFastAgrees(t *testing.T) {
	for _, c := range decodeCases {
		checkDecodeFast(t, []byte(c))
	}
	for _, line := range contractExamples {
		if !checkDecodeFast(t, []byte(line)) {
			t.Errorf("the fast path declines the contract's example %s", line)
		}
		e, err := Parse([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		if !checkDecodeFast(t, b) {
			t.Errorf("the fast path declines Marshal's output %s", b)
		}
	}
	seeds, err := filepath.Glob("testdata/fuzz/FuzzParse/*")
	if err != nil || len(seeds) == 0 {
		t.Fatalf("no FuzzParse seeds: %v", err)
	}
	for _, name := range seeds {
		data := fuzzSeed(t, name)
		checkDecodeFast(t, bytes.TrimSpace(data))
	}
}

// fuzzSeed reads the []byte of a one-value corpus file of go test -fuzz.
func fuzzSeed(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	lit, ok := strings.CutPrefix(lines[len(lines)-1], "[]byte(")
	if !ok {
		t.Fatalf("%s: not a []byte corpus entry", name)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return []byte(s)
}

// FuzzMarshal checks Marshal against encoding/json on events with arbitrary strings.
func FuzzMarshal(f *testing.F) {
	f.Add("auth", "id-1", int64(1700000000123), "o", "Kari@O.no", "<b>&\u2028\"\\\x01", "\xff\xfeæøå", int64(3), true)
	f.Add("access", "", int64(-5000000000000), "", "", "", "", int64(0), false)
	f.Fuzz(func(t *testing.T, kind, id string, ms int64, org, user, s1, s2 string, records int64, flag bool) {
		e := Event{Kind: Kind(kind), ID: id, Time: time.UnixMilli(ms).UTC(), Org: org, User: user, Service: s1,
			UserAgent: s2, Actor: s2, Records: records, Affiliations: []string{s1, user}, HiddenIdentity: flag, Active: &flag,
			GoType: s1, ContactTeacher: !flag, Status: s2}
		if flag {
			e.Schools = []string{}
			e.Time = e.Time.In(time.FixedZone("", 3600))
		}
		got, gotErr := Marshal(&e)
		want, wantErr := json.Marshal(&e)
		if !bytes.Equal(got, want) || (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("Marshal(%+v) =\n%s, %v\nencoding/json:\n%s, %v", e, got, gotErr, want, wantErr)
		}
	})
}

// Every field of Event, filled by reflection, is written by Marshal exactly as encoding/json
// writes it (plain and escaped values) and read back by the fast path, so a field added to
// Event but not to the decoder's switch, fieldNames or Marshal fails here.
func TestEveryFieldDecodedAndMarshalled(t *testing.T) {
	var names []string
	for _, value := range []string{"v-1.example", "v\"<&>\u2028é\x01"} {
		e := Event{Time: time.Date(2026, 11, 2, 8, 30, 0, 123000000, time.UTC)}
		rv := reflect.ValueOf(&e).Elem()
		names = names[:0]
		for i := range rv.NumField() {
			f, sf := rv.Field(i), rv.Type().Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			names = append(names, name)
			switch f.Kind() {
			case reflect.String:
				f.SetString(value + "-" + name)
			case reflect.Slice:
				f.Set(reflect.ValueOf([]string{value + "-" + name, "second"}))
			case reflect.Bool:
				f.SetBool(true)
			case reflect.Int64:
				f.SetInt(7)
			case reflect.Pointer:
				f.Set(reflect.ValueOf(new(bool)))
			case reflect.Struct: // Time, set above
			default:
				t.Fatalf("field %s of kind %s: teach this test (and the decoder and Marshal) about it", sf.Name, f.Kind())
			}
		}
		got, err := Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Marshal =\n%s\nencoding/json:\n%s", got, want)
		}
		if value == "v-1.example" && !checkDecodeFast(t, want) {
			t.Errorf("the fast path declines an event with every field set: %s", want)
		}
	}
	slices.Sort(names)
	known := slices.Sorted(slices.Values(fieldNames))
	if !slices.Equal(names, known) {
		t.Errorf("Event's JSON names %v, the decoder's fieldNames %v", names, known)
	}
}
