package deploy

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"breachd/event"
	"breachd/ingest"
	"breachd/notify"
	"breachd/respond"
	"breachd/respond/scim/scimtest"
)

// stuffing returns the events of a credential-stuffing burst against user, as a log source
// writes them: 20 failed logins and a success, all claiming org.
func stuffing(prefix, user, org string, start time.Time) []event.Event {
	var evs []event.Event
	for i := range 21 {
		res := "failure"
		if i == 20 {
			res = "success"
		}
		evs = append(evs, event.Event{Kind: event.KindAuth, ID: fmt.Sprintf("%s-%02d", prefix, i), Time: start.Add(time.Duration(i) * 10 * time.Second),
			Org: org, User: user, Service: "https://lms.example.no/saml", Result: res, IP: "203.0.113.9"})
	}
	return evs
}

// TestGuardRailsAgainstForgedEvents performs the attacks of issue 10, items 4 and 5, on the
// real path: ingest → JetStream → detector (directory, rules) → ClickHouse → notifier →
// respond engine → a SCIM provider, with a cap of 2 deactivations per organisation and hour.
//
//   - Item 4: four accounts of one realm (two known to the directory, two not) are stuffed
//     by events that each claim another organisation. The cap must hold for the realm: two
//     PATCH requests, two requests held for approval, every incident filed under the home
//     organisation with the claim flagged.
//   - Item 5: a zero-width-space spelling of the allow-listed "breakglass@…" and an NFD
//     spelling of the allow-listed "kåre.ås@…" are refused without any SCIM request, and two
//     case spellings of breakglass (two full bursts) make one incident, not two.
func TestGuardRailsAgainstForgedEvents(t *testing.T) {
	const realm = "bergen.kommune.no"
	const kare = "kåre.ås@" + realm
	victims := []string{"victim1@" + realm, "victim2@" + realm, "victim3@" + realm, "victim4@" + realm}
	srv := scimtest.Start(t, append([]string{"breakglass@" + realm, kare}, victims...)...)
	t.Setenv("TEST_SCIM_TOKEN", srv.Token)
	rc := &RespondConfig{adapterConfig: adapterConfig{Adapter: "scim", SCIM: &scimConfig{BaseURL: srv.URL, TokenEnv: "TEST_SCIM_TOKEN"}},
		AllowList: []string{"breakglass@*", kare}, MaxPerHour: 2}

	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	var evs []event.Event
	// The directory knows two of the victims, in their home organisation.
	for i, v := range victims[:2] {
		evs = append(evs, event.Event{Kind: event.KindDirectory, ID: fmt.Sprintf("dir-%d", i), Time: start.Add(-time.Hour), Org: realm,
			Op: event.OpPerson, User: v, Affiliations: []string{"student"}, PrimaryAffiliation: "student"})
	}
	for i, v := range victims {
		evs = append(evs, stuffing(fmt.Sprintf("forged-%d", i), v, fmt.Sprintf("fake-org-%d.example", i+1), start.Add(time.Duration(i)*time.Minute))...)
	}
	evs = append(evs, stuffing("zwsp", "breakglass\u200b@"+realm, realm, start)...)
	evs = append(evs, stuffing("nfd", norm.NFD.String(kare), realm, start)...)
	evs = append(evs, stuffing("case-1", "BreakGlass@"+realm, realm, start.Add(20*time.Minute))...)
	evs = append(evs, stuffing("case-2", "breakglass@"+realm, realm, start.Add(25*time.Minute))...)

	in := startTestInfra(t, filepath.Join(t.TempDir(), "data"))
	defer in.Close()
	clock := &fakeClock{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := RunPipeline(ctx, in, PipelineConfig{Sources: []ingest.Source{eventsSource(evs)}, ExitWhenDone: true,
		Respond: rc, Clock: clock.Now, Logger: testLogger(t)})
	if err != nil || ctx.Err() != nil {
		t.Fatalf("pipeline: %v (ctx %v)", err, ctx.Err())
	}

	store, err := notify.NewStore(context.Background(), in.JS)
	if err != nil {
		t.Fatal(err)
	}
	incs, err := store.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byAccount := map[string][]*event.Incident{}
	for _, inc := range incs {
		byAccount[inc.Account] = append(byAccount[inc.Account], inc)
	}
	// Item 4: the cap holds for the realm, whatever org the events claimed.
	states := map[string]int{}
	for _, v := range victims {
		got := byAccount[v]
		if len(got) != 1 {
			t.Errorf("%s: %d incidents, want 1", v, len(got))
			continue
		}
		inc := got[0]
		states[inc.Deactivation]++
		if inc.Org != realm {
			t.Errorf("%s: incident %s filed under org %q, want the home organisation %s", v, inc.ID, inc.Org, realm)
		}
		if !strings.Contains(inc.Timeline[0].Text, "claimed org fake-org-") {
			t.Errorf("%s: the forged org claim is not flagged in the timeline: %q", v, inc.Timeline[0].Text)
		}
	}
	if states[respond.StateDone] != 2 || states[respond.StateAwaitingApproval] != 2 {
		t.Errorf("victims' deactivations %v, want 2 done and 2 awaiting approval (cap 2 per organisation and hour)", states)
	}
	if n := srv.Patches(); n != 2 {
		t.Errorf("SCIM saw %d PATCH requests, want 2: the cap of the realm", n)
	}
	// Item 5: every spelling of an allow-listed account is one account, and refused untouched.
	for _, acct := range []string{"breakglass@" + realm, kare} {
		got := byAccount[acct]
		if len(got) != 1 {
			t.Errorf("%s: %d incidents, want 1 (spellings: %v)", acct, len(got), keys(byAccount))
			continue
		}
		if got[0].Deactivation != respond.StateRefused {
			t.Errorf("%s: deactivation %q, want refused by the allow-list", acct, got[0].Deactivation)
		}
		if active, _ := srv.Active(acct); !active {
			t.Errorf("the allow-listed %s was deactivated", acct)
		}
	}
	for acct, got := range byAccount {
		if !strings.HasPrefix(acct, "victim") && (len(got) != 1 || got[0].Deactivation != respond.StateRefused) {
			t.Errorf("%+q is a spelling of an allow-listed account, but its deactivation is not refused", acct)
		}
	}
	if n := srv.Searches(); n != 2 {
		t.Errorf("SCIM saw %d user searches, want 2 (the two victims within the cap, no allow-listed spelling)", n)
	}
	if len(incs) != len(victims)+2 {
		t.Errorf("%d incidents, want %d: %v", len(incs), len(victims)+2, keys(byAccount))
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, fmt.Sprintf("%+q", k))
	}
	return out
}
