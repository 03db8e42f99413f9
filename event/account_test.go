package event

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestNormalizeAccount(t *testing.T) {
	const kare = "kåre.ås@bergen.kommune.no" // NFC, as an IdP writes it
	for _, c := range []struct{ name, in, want string }{
		{"plain", "ola.nordmann@bergen.kommune.no", "ola.nordmann@bergen.kommune.no"},
		{"upper case", "BreakGlass@Bergen.Kommune.NO", "breakglass@bergen.kommune.no"},
		{"zero-width space", "breakglass\u200b@bergen.kommune.no", "breakglass@bergen.kommune.no"},
		{"zero-width joiners, word joiner, BOM", "\ufeffbreak\u200cgl\u200dass\u2060@bergen.kommune.no", "breakglass@bergen.kommune.no"},
		{"bidi marks and soft hyphen", "\u202ebreak\u00adglass\u200e@bergen.kommune.no", "breakglass@bergen.kommune.no"},
		{"variation selector and grapheme joiner", "break\ufe0fgla\u034fss@bergen.kommune.no", "breakglass@bergen.kommune.no"},
		{"controls", "ola\x00\t.nordmann\x7f@bergen.kommune.no", "ola.nordmann@bergen.kommune.no"},
		{"surrounding space", " \tola@bergen.kommune.no\u00a0\n", "ola@bergen.kommune.no"},
		{"NFD", norm.NFD.String(kare), kare},
		{"NFD upper case", norm.NFD.String("KÅRE.ÅS@Bergen.kommune.no"), kare},
		{"NFC already", kare, kare},
		{"guardian id", "IDporten:hash:7F3A", "idporten:hash:7f3a"},
		{"invalid UTF-8", "sander.j\xf8rgensen@x.no", "sander.j\ufffdrgensen@x.no"},
		{"only invisible", "\u200b\u200b", ""},
		{"empty", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := NormalizeAccount(c.in); got != c.want {
				t.Errorf("NormalizeAccount(%+q) = %+q, want %+q", c.in, got, c.want)
			}
		})
	}
}

// Identifier fields are checked and normalised by Parse, whatever the kind; other fields are
// left as sent.
func TestParseNormalizesIdentifiers(t *testing.T) {
	line := `{"kind":"access","id":"n-1","time":"2026-11-02T08:00:00Z","org":"Bergen.Kommune.no","actor":"Kari.L\u0061\u030arer\u200b@BERGEN.kommune.no","actor_role":"teacher","action":"view","subject":" OLA@bergen.kommune.no","resource":"grades","service":"LMS","group":"fc:gogroup:bergen.kommune.no:u:NO974600951:8a"}`
	e, err := Parse([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if e.Org != "bergen.kommune.no" || e.Actor != "kari.l\u00e5rer@bergen.kommune.no" || e.Subject != "ola@bergen.kommune.no" {
		t.Errorf("identifiers not normalised: org %+q, actor %+q, subject %+q", e.Org, e.Actor, e.Subject)
	}
	if e.Service != "LMS" || !strings.Contains(e.Group, "NO974600951") {
		t.Errorf("non-identifier fields changed: service %q, group %q", e.Service, e.Group)
	}
	g, err := Parse([]byte(`{"kind":"directory","id":"n-2","time":"2026-11-02T08:00:00Z","org":"o","op":"guardianship","guardian":"IDPORTEN:hash:7F3A\ufeff","child":"Ola@O","status":"active"}`))
	if err != nil {
		t.Fatal(err)
	}
	if g.Guardian != "idporten:hash:7f3a" || g.Child != "ola@o" || g.Account() != "idporten:hash:7f3a" {
		t.Errorf("guardianship identifiers not normalised: %+q %+q", g.Guardian, g.Child)
	}
	// An identifier of nothing but invisible characters is missing.
	_, err = Parse([]byte(`{"kind":"auth","id":"n-3","time":"2026-11-02T08:00:00Z","org":"o","user":"\u200b","service":"s","result":"success"}`))
	var ie *InvalidError
	if !errors.As(err, &ie) || ie.Field != "user" || ie.Reason != "required" {
		t.Errorf("invisible-only user: %v, want user: required", err)
	}
}

// Issue 10, items 7 and 8: identifiers that lost their bytes or carry controls, and times history
// cannot store, are rejected with a reason naming the field.
func TestParseRejectsBadIdentifiersAndTimes(t *testing.T) {
	auth := func(user, tm string) string {
		return `{"kind":"auth","id":"r-1","time":"` + tm + `","org":"bergen.kommune.no","user":"` + user + `","service":"s","result":"success"}`
	}
	const ok = "2026-11-02T08:00:00Z"
	for _, c := range []struct{ name, line, field, reason string }{
		{"invalid UTF-8 in user", auth("sander.j\xf8rgensen@bergen.kommune.no", ok), "user", "U+FFFD"},
		{"escaped U+FFFD in user", auth(`sander.j\uFFFDrgensen@bergen.kommune.no`, ok), "user", "U+FFFD"},
		{"escaped NUL in user", auth(`ola\u0000@bergen.kommune.no`, ok), "user", "U+0000"},
		{"line break in user", auth(`ola@bergen.kommune.no\nforged log line`, ok), "user", "U+000A"},
		{"NUL in subject", `{"kind":"access","id":"r-2","time":"2026-11-02T08:00:00Z","org":"o","actor":"a@o","actor_role":"teacher","action":"view","subject":"ola\u0000","resource":"grades","service":"s"}`, "subject", "U+0000"},
		{"invalid UTF-8 in guardian", `{"kind":"directory","id":"r-3","time":"2026-11-02T08:00:00Z","org":"o","op":"guardianship","guardian":"g` + "\xff" + `","child":"c","status":"active"}`, "guardian", "U+FFFD"},
		{"invalid UTF-8 in org", `{"kind":"auth","id":"r-4","time":"2026-11-02T08:00:00Z","org":"b` + "\xe9" + `rgen","user":"u","service":"s","result":"success"}`, "org", "U+FFFD"},
		{"year 2999", auth("ola@bergen.kommune.no", "2999-01-01T00:00:00Z"), "time", "outside the range"},
		{"year 2300", auth("ola@bergen.kommune.no", "2300-01-01T00:00:00Z"), "time", "outside the range"},
		{"year 1899", auth("ola@bergen.kommune.no", "1899-12-31T23:59:59Z"), "time", "outside the range"},
		{"offset moves it before 1900", auth("ola@bergen.kommune.no", "1900-01-01T00:30:00+01:00"), "time", "outside the range"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.line))
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want *InvalidError", err)
			}
			if ie.Field != c.field || !strings.Contains(ie.Reason, c.reason) {
				t.Errorf("got %v, want field %q with %q in the reason", err, c.field, c.reason)
			}
		})
	}
	// The edges of the range are accepted, and so is surrounding white space.
	for _, tm := range []string{"1900-01-01T00:00:00Z", "2299-12-31T23:59:59.999Z", "1970-01-01T00:00:00Z"} {
		if _, err := Parse([]byte(auth("ola@bergen.kommune.no", tm))); err != nil {
			t.Errorf("time %s: %v", tm, err)
		}
	}
	if _, err := Parse([]byte(auth(`\tola@bergen.kommune.no\n`, ok))); err != nil {
		t.Errorf("surrounding white space: %v", err)
	}
}

func TestCheckFuture(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name   string
		t      time.Time
		skew   time.Duration
		reject bool
	}{
		{"now", now, DefaultMaxFutureSkew, false},
		{"just inside", now.Add(24 * time.Hour), DefaultMaxFutureSkew, false},
		{"just beyond", now.Add(24*time.Hour + time.Millisecond), DefaultMaxFutureSkew, true},
		{"year 2999", time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC), DefaultMaxFutureSkew, true},
		{"a backfill from 1990", time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), DefaultMaxFutureSkew, false},
		{"tighter skew", now.Add(2 * time.Hour), time.Hour, true},
		{"disabled", now.Add(1000 * time.Hour), 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckFuture(c.t, now, c.skew)
			var ie *InvalidError
			if got := errors.As(err, &ie); got != c.reject || got && ie.Field != "time" {
				t.Errorf("CheckFuture(%s) = %v, want rejected %v", c.t, err, c.reject)
			}
		})
	}
}

// FuzzNormalizeAccount checks the normaliser on arbitrary strings; the seed corpus is in
// testdata/fuzz/FuzzNormalizeAccount. Properties: the result is valid UTF-8, in NFC, holds no
// character NormalizeAccount removes and no surrounding white space, and normalising it again
// changes nothing; the allocation-free fast paths agree with the full normalisation; plain
// lower-case ASCII (nearly every real identifier) is left as it is.
func FuzzNormalizeAccount(f *testing.F) {
	for _, s := range []string{"ola@bergen.kommune.no", "BreakGlass@X.no", "break\u200bglass@x.no", norm.NFD.String("kåre@x.no"), "\x00", "\xff\xfe", "İstanbul@x", "ẞ@x", "\u0345\u0399", "ÆØÅ×÷@x", "a\u00adb", "\u0085x", "ÿ\u0308", "µª\u00a0º@x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := NormalizeAccount(s)
		if !utf8.ValidString(out) {
			t.Fatalf("NormalizeAccount(%+q) = %+q: not valid UTF-8", s, out)
		}
		if !norm.NFC.IsNormalString(out) {
			t.Fatalf("NormalizeAccount(%+q) = %+q: not NFC", s, out)
		}
		for _, r := range out {
			if Invisible(r) {
				t.Fatalf("NormalizeAccount(%+q) = %+q: holds %U", s, out, r)
			}
		}
		if strings.TrimSpace(out) != out {
			t.Fatalf("NormalizeAccount(%+q) = %+q: surrounding white space", s, out)
		}
		if slow := normalizeSlow(s); slow != out {
			t.Fatalf("fast path disagrees: %+q -> %+q, without it %+q", s, out, slow)
		}
		if again := NormalizeAccount(out); again != out {
			t.Fatalf("not idempotent: %+q -> %+q -> %+q", s, out, again)
		}
		if checkIdentifier("user", s) == nil && plainASCII(s) && out != s {
			t.Fatalf("plain ASCII %+q changed to %+q", s, out)
		}
	})
}

func BenchmarkNormalizeAccount(b *testing.B) {
	for _, s := range []string{"ola.nordmann@bergen.kommune.no", "kari.lærer@bergen.kommune.no", "Kari.L\u0061\u030arer\u200b@BERGEN.kommune.no"} {
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = NormalizeAccount(s)
			}
		})
	}
}

// alreadyNormal's Latin-1 shortcut (no NFC check) agrees with normalizeSlow on every Latin-1
// character, alone and between letters.
func TestAlreadyNormalLatin1(t *testing.T) {
	for r := rune(0x80); r <= 0xff; r++ {
		for _, s := range []string{string(r), "a" + string(r) + "b"} {
			if got, want := alreadyNormal(s), normalizeSlow(s) == s; got != want {
				t.Errorf("alreadyNormal(%+q) = %v, normalizeSlow leaves it as it is: %v", s, got, want)
			}
		}
	}
}
