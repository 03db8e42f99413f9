package main

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

const historyEvents = `{"kind":"auth","id":"a0","time":"2026-11-02T00:00:00Z","org":"o.no","user":"kari@o.no","service":"https://sas","result":"success","method":"password","ip":"3.3.3.3","country":"NO"}
{"kind":"auth","id":"a1","time":"2026-11-02T08:00:00Z","org":"o.no","user":"kari@o.no","service":"https://lms","service_name":"LMS","result":"success","method":"password","ip":"1.1.1.1","country":"NO"}
{"kind":"auth","id":"a2","time":"2026-11-02T08:05:00Z","org":"o.no","user":"kari@o.no","service":"https://lms","service_name":"LMS","result":"failure","method":"password","ip":"2.2.2.2","country":"SE"}
{"kind":"auth","id":"a3","time":"2026-11-03T00:00:00Z","org":"o.no","user":"kari@o.no","service":"https://lms","result":"success","method":"password","ip":"9.9.9.9","country":"US"}
{"kind":"access","id":"x1","time":"2026-11-02T08:10:00Z","org":"o.no","actor":"kari@o.no","actor_role":"teacher","action":"view","subject":"ola@o.no","resource":"grades","service":"https://lms","records":3}
{"kind":"access","id":"x2","time":"2026-11-02T08:12:00Z","org":"o.no","actor":"kari@o.no","actor_role":"teacher","action":"export","subject":"per@o.no","resource":"grades","service":"https://lms","records":40}
{"kind":"access","id":"x3","time":"2026-11-02T09:00:00Z","org":"o.no","actor":"nils@o.no","actor_role":"admin","action":"view","subject":"ola@o.no","resource":"health","service":"https://lms"}
`

// TestHistoryLookups loads events with `run`, then asks the admin questions of a breach as an
// operator would, and checks that each lookup was audited.
func TestHistoryLookups(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	in := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(in, []byte(historyEvents), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := breachd(t, nil, "run", "--exit-when-done", "--data", data, "--metrics-addr", "", in); code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errs)
	}
	window := []string{"--data", data, "--as", "dpo@o.no", "--from", "2026-11-02", "--to", "2026-11-03T00:00:00Z"}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"logins", "--account", "kari@o.no", "--reason", "phishing report"},
			`service      service_name  first                     last                      successes  failures  ips                    countries
https://sas                2026-11-02T00:00:00.000Z  2026-11-02T00:00:00.000Z  1          0         ["3.3.3.3"]            ["NO"]
https://lms  LMS           2026-11-02T08:00:00.000Z  2026-11-02T08:05:00.000Z  1          1         ["1.1.1.1","2.2.2.2"]  ["NO","SE"]
(2 rows)
`},
		{[]string{"access", "--account", "kari@o.no", "--incident", "INC-1"},
			`subject   resource  action  events  records  first                     last
ola@o.no  grades    view    1       3        2026-11-02T08:10:00.000Z  2026-11-02T08:10:00.000Z
per@o.no  grades    export  1       40       2026-11-02T08:12:00.000Z  2026-11-02T08:12:00.000Z
(2 rows)
total: 2 people, 43 records, 2 events
`},
		{[]string{"access", "--account", "kari@o.no", "--incident", "INC-1", "--summary", "--format", "csv"},
			"resource,people,records,events\ngrades,2,43,2\n(all),2,43,2\n"},
		{[]string{"subject", "--person", "ola@o.no", "--reason", "access request", "--format", "csv"},
			`actor,actor_role,resource,action,events,records,first,last
kari@o.no,teacher,grades,view,1,3,2026-11-02T08:10:00.000Z,2026-11-02T08:10:00.000Z
nils@o.no,admin,health,view,1,1,2026-11-02T09:00:00.000Z,2026-11-02T09:00:00.000Z
`},
		{[]string{"timeline", "--account", "kari@o.no", "--reason", "scope", "--format", "csv", "--limit", "4"},
			`time,kind,id,action,target,resource,records,ip,country
2026-11-02T00:00:00.000Z,auth,a0,success,https://sas,,0,3.3.3.3,NO
2026-11-02T08:00:00.000Z,auth,a1,success,https://lms,,0,1.1.1.1,NO
2026-11-02T08:05:00.000Z,auth,a2,failure,https://lms,,0,2.2.2.2,SE
2026-11-02T08:10:00.000Z,access,x1,view,ola@o.no,grades,3,,
`},
	}
	for _, c := range cases {
		args := append(append([]string{"history", c.args[0]}, window...), c.args[1:]...)
		out, errs, code := breachd(t, nil, args...)
		if code != 0 || out != c.want {
			t.Errorf("breachd %v: exit %d\n got:\n%s\nwant:\n%s\nstderr: %s", args, code, out, c.want, errs)
		}
	}

	out, errs, code := breachd(t, nil, "history", "sql", "--data", data, "--as", "ops", "--format", "csv",
		"SELECT actor, action, target, reason, issuer, subject, org FROM audit ORDER BY time")
	// Direct mode: the OS user, vouched for by breachd:os, is the identity; --as the actor.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.ReplaceAll(`actor,action,target,reason,issuer,subject,org
dpo@o.no,history.logins,kari@o.no,phishing report,breachd:os,ME,o.no
dpo@o.no,history.access,kari@o.no,,breachd:os,ME,o.no
dpo@o.no,history.access,kari@o.no,,breachd:os,ME,o.no
dpo@o.no,history.subject,ola@o.no,access request,breachd:os,ME,o.no
dpo@o.no,history.timeline,kari@o.no,scope,breachd:os,ME,o.no
ops,history.sql,,,breachd:os,ME,
`, "ME", me.Username)
	if code != 0 || out != want {
		t.Errorf("audit log: exit %d\n got:\n%s\nwant:\n%s\n%s", code, out, want, errs)
	}
}

func TestHistoryLookupUsage(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"logins", "--account", "kari@o.no", "--as", "dpo", "--from", "2026-11-02"}, 2, "--reason is required unless --incident"},
		{[]string{"subject", "--person", "ola@o.no", "--from", "2026-11-02", "--reason", "x", "--as", ""}, 2, "--as is required"},
		{[]string{"logins", "--from", "2026-11-02", "--reason", "x", "--as", "dpo"}, 2, "--account is required"},
		{[]string{"access", "--account", "k", "--reason", "x", "--as", "dpo"}, 2, "--from is required"},
		{[]string{"access", "--account", "k", "--from", "yesterday", "--reason", "x", "--as", "dpo"}, 2, "neither RFC 3339"},
		{[]string{"timeline", "--account", "k", "--from", "2026-11-03", "--to", "2026-11-02", "--reason", "x", "--as", "dpo"}, 2, "is not before"},
		{[]string{"subject", "--account", "k"}, 2, "unknown flag"}, // pflag's wording,
		{[]string{"logins", "--help"}, 0, "breachd history logins --account"},
		{[]string{"subject", "--help"}, 0, "breachd history subject --person"},
		{[]string{"--help"}, 0, "timeline  everything the account did"},
	}
	for _, c := range cases {
		args := append([]string{"history", c.args[0], "--data", data}, c.args[1:]...)
		if c.args[0] == "--help" {
			args = []string{"history", "--help"}
		}
		out, errs, code := breachd(t, nil, args...)
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("breachd %v: exit %d, output %q; want exit %d containing %q", args, code, out+errs, c.code, c.want)
		}
	}
}
