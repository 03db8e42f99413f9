package format_test

import (
	"errors"
	"testing"
	"time"

	"breachd/event"
	"breachd/ingest"
	"breachd/ingest/format"
)

// The fuzz targets feed each parser arbitrary bytes. Seed corpora (the sample lines of
// testdata plus edge cases) and every crasher found so far live in testdata/fuzz/<FuzzName>.
//
// Properties, the same for every parser because the pipeline relies on them:
//   - no panic;
//   - an error is ErrSkip (the record is not an event) or an *event.InvalidError (the record
//     is dead-lettered with its text), never anything else;
//   - an event returned without error passes event.Validate and event.Marshal can write it,
//     with an id of at most event.MaxIDLen bytes; a Marshal failure would fail the whole
//     batch and stop the source at that record forever instead of dead-lettering it.
func checkParse(t *testing.T, parse ingest.Parser, data []byte) {
	ev, err := parse(data)
	if err != nil {
		checkErr(t, data, err)
		return
	}
	checkEvent(t, data, &ev)
}

func checkErr(t *testing.T, data []byte, err error) {
	var ie *event.InvalidError
	if !errors.Is(err, format.ErrSkip) && !errors.As(err, &ie) {
		t.Fatalf("%q: error %T %v is neither ErrSkip nor *event.InvalidError", data, err, err)
	}
	if err.Error() == "" {
		t.Fatalf("%q: empty error text", data)
	}
}

func checkEvent(t *testing.T, data []byte, ev *event.Event) {
	if err := ev.Validate(); err != nil {
		// The pipeline dead-letters these with the reason, which is fine, but a parser
		// should not produce an event it knows to be incomplete without saying so; the
		// error must still be an InvalidError.
		checkErr(t, data, err)
		return
	}
	if _, err := event.Marshal(ev); err != nil {
		t.Fatalf("%q: event %+v does not marshal: %v", data, ev, err)
	}
	if ev.Time.Location() != time.UTC {
		t.Fatalf("%q: time %v is not in UTC", data, ev.Time)
	}
}

func FuzzCanonical(f *testing.F) {
	p := ingest.Canonical()
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, p, data) })
}

func FuzzSimpleSAMLphp(f *testing.F) {
	p := sspParser(f)
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, p, data) })
}

func FuzzEntra(f *testing.F) {
	p, multi := format.Entra(format.EntraOptions{}), format.EntraRecords(format.EntraOptions{})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, p, data)
		evs, err := multi(data)
		if err != nil {
			checkErr(t, data, err)
			return
		}
		for i := range evs {
			checkEvent(t, data, &evs[i])
		}
	})
}

func FuzzECS(f *testing.F) {
	p := format.ECS(format.ECSOptions{})
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, p, data) })
}

// FuzzMapping fuzzes the input of both shipped example mappings (the YAML is trusted
// configuration, checked when it loads, not fuzzed here).
func FuzzMapping(f *testing.F) {
	var ps []ingest.Parser
	for _, name := range []string{"lms", "helsestasjon"} {
		p, err := format.LoadMapping("testdata/mappings/" + name + ".yaml")
		if err != nil {
			f.Fatal(err)
		}
		ps = append(ps, p)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range ps {
			checkParse(t, p, data)
		}
	})
}
