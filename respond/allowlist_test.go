package respond_test

import (
	"testing"

	"golang.org/x/text/unicode/norm"

	"breachd/respond"
)

// Issue 10, item 5: spellings of an allow-listed account that a person reads as the same
// account (zero-width characters, NFD, another case) are refused like the listed one, and the
// SCIM provider sees no request for them; entries written in such spellings match too.
func TestAllowListMatchesEverySpelling(t *testing.T) {
	ctx := ctxT(t)
	const kare = "kåre.ås@bergen.kommune.no"
	env := newEnv(t, "breakglass@bergen.kommune.no", kare, "per@bergen.kommune.no", "ola@bergen.kommune.no")
	eng := env.engine(func(o *respond.Options) {
		o.Policy = respond.Policy{MaxPerHour: 100, AllowList: []string{
			"breakglass@*",
			kare,                           // NFC, as typed on most keyboards
			" PER\u200b@Bergen.Kommune.NO", // a copied entry with a stray space, ZWSP and capitals
		}}
	})
	for i, acct := range []string{
		"breakglass@bergen.kommune.no",
		"BreakGlass@Bergen.Kommune.no",
		"break\u200bglass@bergen.kommune.no",
		"\ufeffbreakglass\u2060@bergen.kommune.no",
		norm.NFD.String(kare),
		norm.NFD.String("KÅRE.ÅS@bergen.kommune.no"),
		"kåre.ås\u200d@bergen.kommune.no",
		"per@bergen.kommune.no",
	} {
		r := expect(t, respond.StateRefused)(eng.Request(ctx, target("bergen.kommune.no", acct, "INC-allow-"+string(rune('a'+i))), "takeover", "notify"))
		if r.Refusal == "" {
			t.Errorf("%+q refused without saying why", acct)
		}
	}
	if n := env.scim.Patches() + env.scim.Searches(); n != 0 {
		t.Fatalf("the SCIM provider saw %d requests for allow-listed accounts", n)
	}
	// Someone else is still deactivated.
	expect(t, respond.StateDone)(eng.Request(ctx, target("bergen.kommune.no", "ola@bergen.kommune.no", "INC-allow-z"), "takeover", "notify"))
	if env.scim.Patches() != 1 {
		t.Fatalf("patches = %d, want 1 for the account not on the list", env.scim.Patches())
	}
}

func TestAllowListRejectsEmptyEntries(t *testing.T) {
	env := newEnv(t)
	for _, entry := range []string{"", "  ", "\u200b\u200b"} {
		_, err := respond.New(ctxT(t), env.bus.JS, respond.Options{Adapter: &respond.DryRun{}, Auditor: respond.NewJSONAuditor(env.audit),
			Policy: respond.Policy{AllowList: []string{"breakglass@*", entry}}})
		if err == nil {
			t.Errorf("allow-list entry %+q accepted", entry)
		}
	}
}
