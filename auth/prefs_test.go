package auth

import (
	"context"
	"strings"
	"testing"
)

// TestPrefs: a person's console preferences are stored per principal in the bucket (under a
// hash of their identity), seen by every browser and API token of theirs, and by nobody else;
// a change needs the session's CSRF token, and any body but {"lang": ""|"nb"|"en"} is refused.
func TestPrefs(t *testing.T) {
	e := newEnv(t)
	if st, m, _ := e.do(t, nil, "GET", "/api/me/prefs", nil); st != 401 || errCode(m) != "unauthenticated" {
		t.Fatalf("without a session: %d %v", st, m)
	}
	if st, m, _ := e.do(t, nil, "PUT", "/api/me/prefs", map[string]string{"lang": "nb"}); st != 401 {
		t.Fatalf("PUT without a session: %d %v", st, m)
	}
	c := e.client(t)
	st, csrf := e.login(t, c, "bergen", testPassword)
	if st != 200 {
		t.Fatalf("sign-in: %d", st)
	}
	if st, m, _ := e.do(t, c, "GET", "/api/me/prefs", nil); st != 200 || m["lang"] != "" || len(m) != 1 {
		t.Fatalf("nothing stored yet: %d %v, want 200 {lang: \"\"}", st, m)
	}
	if st, m, _ := e.do(t, c, "PUT", "/api/me/prefs", map[string]string{"lang": "nb"}); st != 403 || errCode(m) != "csrf" {
		t.Fatalf("PUT without the CSRF token: %d %v, want 403 csrf", st, m)
	}
	for name, body := range map[string]string{
		"unknown language": `{"lang":"de"}`, "no lang": `{}`, "not a string": `{"lang":1}`, "null": `{"lang":null}`,
		"unknown field": `{"lang":"nb","theme":"dark"}`, "trailing data": `{"lang":"nb"} {}`, "not JSON": `lang=nb`,
		"too large": `{"lang":"` + strings.Repeat("n", 2000) + `"}`,
	} {
		st, m, _ := e.do(t, c, "PUT", "/api/me/prefs", body, "X-CSRF-Token", csrf, "Content-Type", "application/json")
		want := map[string]string{"unknown field": "unknown_field", "trailing data": "invalid_json", "not JSON": "invalid_json",
			"not a string": "invalid_json", "too large": "body_too_large"}[name]
		if want == "" {
			want = "bad_request"
		}
		if st/100 != 4 || errCode(m) != want {
			t.Errorf("%s: %d %v, want 4xx %s", name, st, m, want)
		}
	}
	if st, m, _ := e.do(t, c, "GET", "/api/me/prefs", nil); m["lang"] != "" {
		t.Fatalf("after refused changes: %d %v, want lang \"\"", st, m)
	}
	if st, m, _ := e.do(t, c, "PUT", "/api/me/prefs", map[string]string{"lang": "nb"}, "X-CSRF-Token", csrf); st != 200 || m["lang"] != "nb" {
		t.Fatalf("PUT nb: %d %v", st, m)
	}
	// Another browser of the same person, and their API token, see it; another person does not.
	other := e.client(t)
	if st, _ := e.login(t, other, "bergen", testPassword); st != 200 {
		t.Fatal("second sign-in")
	}
	if st, m, _ := e.do(t, other, "GET", "/api/me/prefs", nil); st != 200 || m["lang"] != "nb" {
		t.Errorf("another browser: %d %v, want nb", st, m)
	}
	tok, _, err := e.svc.Users().IssueToken("bergen", "prefs", 0)
	if err != nil {
		t.Fatal(err)
	}
	if st, m, _ := e.do(t, nil, "GET", "/api/me/prefs", nil, "Authorization", "Bearer "+tok); st != 200 || m["lang"] != "nb" {
		t.Errorf("the person's API token: %d %v, want nb", st, m)
	}
	soc := e.client(t)
	_, socCSRF := e.login(t, soc, "soc1", testPassword)
	if st, m, _ := e.do(t, soc, "GET", "/api/me/prefs", nil); st != 200 || m["lang"] != "" {
		t.Errorf("another person: %d %v, want nothing stored", st, m)
	}
	if st, m, _ := e.do(t, soc, "PUT", "/api/me/prefs", map[string]string{"lang": "en"}, "X-CSRF-Token", socCSRF); st != 200 || m["lang"] != "en" {
		t.Fatalf("soc1 PUT en: %d %v", st, m)
	}
	if _, m, _ := e.do(t, c, "GET", "/api/me/prefs", nil); m["lang"] != "nb" {
		t.Errorf("bergen's after soc1 changed theirs: %v, want nb", m)
	}
	// Back to the browser's language.
	if st, m, _ := e.do(t, nil, "PUT", "/api/me/prefs", map[string]string{"lang": ""}, "Authorization", "Bearer "+tok); st != 200 || m["lang"] != "" {
		t.Fatalf("PUT \"\" with the token: %d %v", st, m)
	}
	if _, m, _ := e.do(t, c, "GET", "/api/me/prefs", nil); m["lang"] != "" {
		t.Errorf("after the reset: %v, want \"\"", m)
	}

	// The bucket's keys are hashes: no user name in a key (or the subject $KV.prefs.<key>).
	keys, err := e.svc.prefs.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for k := range keys.Keys() {
		n++
		if strings.Contains(k, "bergen") || strings.Contains(k, "soc1") || !strings.HasPrefix(k, "p.") || len(k) != 2+64 {
			t.Errorf("bucket key %q: want p.<sha256 hex>", k)
		}
	}
	if n != 2 {
		t.Errorf("%d keys in the bucket, want 2 (bergen, soc1)", n)
	}
}

// TestPrefsKey: the key is of the whole identity: the same subject of two issuers, and the
// NUL separator, give different keys.
func TestPrefsKey(t *testing.T) {
	a := prefsKey(&Principal{Issuer: IssuerLocal, Subject: "kari"})
	b := prefsKey(&Principal{Issuer: "https://auth.dataporten.no", Subject: "kari"})
	c := prefsKey(&Principal{Issuer: IssuerLocal, Subject: "kari", Name: "Kari", Via: ViaToken, Roles: []Role{RoleSOC}})
	d := prefsKey(&Principal{Issuer: IssuerLocal + "k", Subject: "ari"})
	if a == b || a == d || a != c {
		t.Errorf("keys: local %s, oidc %s, local again %s, shifted %s", a, b, c, d)
	}
}
