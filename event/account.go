package event

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// NormalizeAccount returns the one spelling of an account identifier (an eduPersonPrincipalName,
// a guardian id, a realm) that breachd keys everything on: windows, incidents, partitions,
// allow-lists. Two strings a person reads as the same account map to the same result:
//
//   - invisible characters are removed: controls (Unicode category Cc), format characters
//     (Cf: zero-width space, joiners, word joiner, BOM, bidi marks, soft hyphen), variation
//     selectors and the other default-ignorable code points (U+034F, Hangul fillers, …);
//   - surrounding white space is trimmed;
//   - the result is in Unicode NFC, so a precomposed "å" and "a" + U+030A are one letter;
//   - it is lower-cased: eduPersonPrincipalNames compare without regard to case.
//
// Invalid UTF-8 bytes become U+FFFD (Validate rejects identifiers with those before they are
// normalised, so no event carries one). NormalizeAccount is idempotent and safe on any input.
func NormalizeAccount(s string) string {
	if plainASCII(s) || alreadyNormal(s) {
		return s
	}
	return normalizeSlow(s)
}

// normalizeSlow is NormalizeAccount without the fast paths (which must agree with it).
func normalizeSlow(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	// Lower-casing and composition can each, in rare scripts, give the other something to do:
	// repeat until nothing changes (twice in practice; bounded all the same).
	for range 4 {
		t := normalizeOnce(s)
		if t == s {
			break
		}
		s = t
	}
	return s
}

func normalizeOnce(s string) string {
	s = strings.Map(func(r rune) rune {
		if Invisible(r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	s = strings.ToLower(norm.NFC.String(s))
	return norm.NFC.String(s)
}

// Invisible reports whether NormalizeAccount removes r from identifiers: a control or format
// character, a variation selector or another default-ignorable code point.
func Invisible(r rune) bool {
	if r < utf8.RuneSelf {
		return r < 0x20 || r == 0x7f
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// plainASCII reports whether s is already normal: printable ASCII without upper case and
// without surrounding spaces (the common case, so it costs no allocation).
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return len(s) == 0 || s[0] != ' ' && s[len(s)-1] != ' '
}

// alreadyNormal reports, without allocating, whether NormalizeAccount would return s as it
// is: valid UTF-8, nothing invisible, nothing to lower-case, no surrounding space, NFC. This
// keeps identifiers with letters such as æøå as cheap as ASCII ones.
func alreadyNormal(s string) bool {
	if s == "" || strings.TrimSpace(s) != s {
		return false
	}
	latin1 := true // only ASCII and Latin-1 letters (æøå): NFC whatever their order
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			if r < 0x20 || r == 0x7f || 'A' <= r && r <= 'Z' {
				return false
			}
		case r <= 0xff:
			// C1 controls, the soft hyphen (Cf) and the upper-case letters but ×.
			if r < 0xa0 || r == 0xad || 0xc0 <= r && r <= 0xde && r != 0xd7 {
				return false
			}
		default:
			latin1 = false
			if r == utf8.RuneError || Invisible(r) || unicode.ToLower(r) != r {
				return false
			}
		}
	}
	return latin1 || norm.NFC.IsNormalString(s)
}

// checkIdentifier reports why the raw value v of identifier field cannot be taken: bytes
// that are not UTF-8, U+FFFD (what a decoder, encoding/json among them, puts in place of
// such bytes, so the original name is lost) or a control character inside it (NUL, line
// breaks: never part of a name, and a way to forge log lines). Surrounding white space is
// allowed; it is trimmed.
func checkIdentifier(field, v string) error {
	if plainASCII(v) {
		return nil
	}
	if !utf8.ValidString(v) {
		return invalid(field, "not valid UTF-8")
	}
	for _, r := range strings.TrimSpace(v) {
		switch {
		case r == utf8.RuneError:
			return invalid(field, "contains U+FFFD, the replacement character for bytes that were not valid UTF-8")
		case unicode.Is(unicode.Cc, r):
			return invalid(field, "contains the control character %s", fmt.Sprintf("U+%04X", r))
		}
	}
	return nil
}

// normalizeIdentifiers checks every identifier field (org, user, actor, subject, guardian,
// child; checkIdentifier) and replaces it by its NormalizeAccount form.
func (e *Event) normalizeIdentifiers() error {
	if err := normalizeIdentifier("org", &e.Org); err != nil {
		return err
	}
	if err := normalizeIdentifier("user", &e.User); err != nil {
		return err
	}
	if err := normalizeIdentifier("actor", &e.Actor); err != nil {
		return err
	}
	if err := normalizeIdentifier("subject", &e.Subject); err != nil {
		return err
	}
	if err := normalizeIdentifier("guardian", &e.Guardian); err != nil {
		return err
	}
	return normalizeIdentifier("child", &e.Child)
}

// normalizeIdentifier checks the identifier field name at v and normalises it in place.
func normalizeIdentifier(name string, v *string) error {
	if plainASCII(*v) { // empty, or valid and normal already: the common case, in one pass
		return nil
	}
	if err := checkIdentifier(name, *v); err != nil {
		return err
	}
	*v = NormalizeAccount(*v)
	return nil
}
