package api_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"breachd/api"
	"breachd/auth"
	"breachd/history"
	"breachd/rules"
)

// The authorization matrix, written from docs/access.md (not from auth.Allowed, so that a
// wrong auth.Allowed fails here): per route, per role, the status for the principal's own
// organisation's incident or account and for the other organisation's. Routes without an
// incident or account give the same status for both.
type want struct{ own, foreign int }

// matrixRoles are the roles in the order of a row of the matrix.
var matrixRoles = []auth.Role{auth.RoleSOC, auth.RoleOrgAdmin, auth.RoleDPO, auth.RoleRuleAuthor, auth.RoleAdmin}

const (
	ok   = http.StatusOK
	deny = http.StatusForbidden
	gone = http.StatusNotFound
	conf = http.StatusConflict
)

var (
	all      = want{ok, ok}
	scoped   = want{ok, gone}
	none     = want{deny, deny}
	refusedW = want{conf, conf}
)

// matrixCase is one route with the request each principal sends: path and body are
// templates where {id} is the target incident's id, {account} the target account, {person}
// a person of the target organisation, {newuser} a user name not yet taken, {user} a user that
// exists and {token} the id of a live API token (each fresh per principal and target). write: the route changes the incident (each principal
// gets fresh incidents for it, and a refused request must leave the version as it was).
type matrixCase struct {
	method, path, body string
	write              bool
	roles              [5]want // soc, org-admin, dpo, rule-author, admin
}

func matrixCases() []matrixCase {
	check, err := fs.ReadFile(rules.DefaultFS(), "export.yaml")
	if err != nil {
		panic(err)
	}
	checkBody, _ := json.Marshal(map[string]any{"files": map[string]string{"export.yaml": string(check)}})
	lookup := func(l string) string {
		return "/api/history/" + l + "?account={account}&from=30d&reason=matrix+test"
	}
	return []matrixCase{
		{"GET", "/api/me", "", false, [5]want{all, all, all, all, all}},
		{"GET", "/api/me/prefs", "", false, [5]want{all, all, all, all, all}},
		{"PUT", "/api/me/prefs", `{"lang":"nb"}`, false, [5]want{all, all, all, all, all}},
		{"GET", "/api/incidents?all=true", "", false, [5]want{all, all, all, none, none}},
		{"GET", "/api/incidents/{id}", "", false, [5]want{all, scoped, scoped, none, none}},
		{"GET", "/api/incidents/{id}/alerts", "", false, [5]want{all, scoped, scoped, none, none}},
		{"GET", "/api/incidents/{id}/evidence", "", false, [5]want{all, scoped, scoped, none, none}},
		{"GET", "/api/incidents/{id}/report", "", false, [5]want{all, scoped, scoped, none, none}},
		{"GET", "/api/incidents/{id}/report?format=markdown", "", false, [5]want{all, scoped, scoped, none, none}},
		{"GET", "/api/register", "", false, [5]want{all, all, all, none, none}},

		{"POST", "/api/incidents/{id}/ack", `{"comment":"seen"}`, true, [5]want{all, none, none, none, none}},
		{"POST", "/api/incidents/{id}/transition", `{"to":"investigating","comment":"looking"}`, true, [5]want{all, none, none, none, none}},
		{"POST", "/api/incidents/{id}/comment", `{"step":2,"text":"told the DPO"}`, true, [5]want{all, none, none, none, none}},
		{"POST", "/api/incidents/{id}/evidence", `{}`, true, [5]want{all, none, none, none, none}},
		{"PATCH", "/api/incidents/{id}/report", `{"dpo":"Dina DPO, dpo@example.org"}`, true, [5]want{none, none, scoped, none, none}},
		{"POST", "/api/incidents/{id}/deactivate", `{"comment":"contain"}`, true, [5]want{all, none, none, none, none}},
		{"POST", "/api/incidents/{id}/approve", `{"comment":"go"}`, true, [5]want{refusedW, none, none, none, none}},
		{"POST", "/api/incidents/{id}/cancel", `{"comment":"stop"}`, true, [5]want{refusedW, none, none, none, none}},
		{"POST", "/api/incidents/{id}/reactivate", `{}`, true, [5]want{refusedW, none, none, none, none}},

		{"GET", lookup("logins"), "", false, [5]want{all, scoped, none, none, none}},
		{"GET", lookup("access"), "", false, [5]want{all, scoped, none, none, none}},
		{"GET", lookup("access") + "&summary=true", "", false, [5]want{all, scoped, none, none, none}},
		{"GET", strings.Replace(lookup("subject"), "{account}", "{person}", 1), "", false, [5]want{all, scoped, none, none, none}},
		{"GET", lookup("timeline"), "", false, [5]want{all, scoped, none, none, none}},
		{"POST", "/api/history/sql", `{"statement":"SELECT 1 AS one","reason":"matrix test"}`, false, [5]want{all, none, none, none, none}},
		{"GET", "/api/audit?from=1d", "", false, [5]want{none, none, all, none, none}},

		{"GET", "/api/rules", "", false, [5]want{all, none, none, all, none}},
		{"GET", "/api/rules/hits?from=2d&bucket=1h", "", false, [5]want{all, none, none, all, none}},
		{"GET", "/api/rules/status", "", false, [5]want{all, none, none, all, none}},
		{"POST", "/api/rules/check", string(checkBody), false, [5]want{all, none, none, all, none}},
		{"POST", "/api/rules/backtest", `{"from":"1d"}`, false, [5]want{all, none, none, all, none}},

		{"GET", "/api/dlq", "", false, [5]want{all, none, none, none, none}},
		{"POST", "/api/dlq/replay", `{"all":true,"dry_run":true}`, false, [5]want{all, none, none, none, none}},

		{"GET", "/api/users", "", false, [5]want{none, none, none, none, all}},
		{"POST", "/api/users", `{"name":"{newuser}","roles":["dpo"],"orgs":["` + bergen + `"]}`, false, [5]want{none, none, none, none, all}},
		{"POST", "/api/users/{user}/disable", `{}`, false, [5]want{none, none, none, none, all}},
		{"POST", "/api/users/{user}/tokens", `{"label":"cli","ttl":"720h"}`, false, [5]want{none, none, none, none, all}},
		{"DELETE", "/api/tokens/{token}", "", false, [5]want{none, none, none, none, all}},
		{"GET", "/api/status", "", false, [5]want{all, none, none, none, all}},
		{"GET", "/api/pipeline", "", false, [5]want{all, none, none, none, all}},

		{"GET", "/healthz", "", false, [5]want{all, all, all, all, all}},
		{"GET", "/readyz", "", false, [5]want{all, all, all, all, all}},
		{"GET", "/api/openapi.json", "", false, [5]want{all, all, all, all, all}},
		{"GET", "/metrics", "", false, [5]want{all, all, all, all, all}},
	}
}

// other is the organisation that is not org.
func other(org string) string {
	if org == bergen {
		return oslo
	}
	return bergen
}

// writeAccount is the account whose fresh incident principal changes through route k, in org.
func writeAccount(k int, principal, org string) string {
	return fmt.Sprintf("w%d-%s@%s", k, strings.NewReplacer("@", "-", ".", "-").Replace(principal), org)
}

// TestAuthorizationMatrix sends every route as every role of each organisation, for the
// principal's own organisation and the other, and checks the status against the matrix, the
// body against openapi.yaml, that a refused change changed nothing, and that no body shows
// an account or incident id of an organisation the principal may not see.
func TestAuthorizationMatrix(t *testing.T) {
	cases := matrixCases()
	var principals []string
	for _, org := range []string{bergen, oslo} {
		for _, r := range matrixRoles {
			principals = append(principals, principalName(r, org))
		}
	}
	var accounts []string
	for k, c := range cases {
		if c.write {
			for _, p := range principals {
				org := history.Realm(p)
				accounts = append(accounts, writeAccount(k, p, org), writeAccount(k, p, other(org)))
			}
		}
	}
	e := newEnv(t, accounts)
	v := newResponseValidator(t, e.http.URL)

	// What each organisation's data looks like in a body: its accounts and incident ids.
	secrets := map[string][]string{}
	for acc, inc := range e.byAccount {
		secrets[inc.Org] = append(secrets[inc.Org], acc, inc.ID)
	}
	people := map[string]string{bergen: "elev0@" + bergen, oslo: "elev1@" + oslo} // not counted: only accounts with incidents are pairs

	send := func(c matrixCase, principal, org string, k int) (*http.Request, *http.Response, []byte) {
		account := accountOf[org]
		if c.write && principal == "" { // anonymous: on soc's incident
			account = writeAccount(k, principalName(auth.RoleSOC, bergen), org)
		} else if c.write {
			account = writeAccount(k, principal, org)
		}
		person := map[string]string{bergen: "elev0@" + bergen, oslo: "elev1@" + oslo}[org]
		user := fmt.Sprintf("u%d-%s-%s", k, principal, org)
		user = strings.NewReplacer("@", "-", ".", "-", "+", "-").Replace(user)
		var tokenID string
		if strings.Contains(c.path+c.body, "{user}") || strings.Contains(c.path, "{token}") {
			if err := e.users.Add(user, []auth.Role{auth.RoleDPO}, []string{org}, testPassword); err != nil {
				t.Fatal(err)
			}
			_, info, err := e.users.IssueToken(user, "matrix", 0)
			if err != nil {
				t.Fatal(err)
			}
			tokenID = info.ID
		}
		r := strings.NewReplacer("{id}", e.byAccount[account].ID, "{account}", url.QueryEscape(account), "{person}", url.QueryEscape(person),
			"{newuser}", user, "{user}", user, "{token}", tokenID)
		path := r.Replace(c.path)
		resp, body := e.do(c.method, path, principal, r.Replace(c.body))
		req, _ := http.NewRequest(c.method, e.http.URL+path, strings.NewReader(r.Replace(c.body)))
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, resp, body
	}

	for k, c := range cases {
		name := c.method + " " + c.path
		public := strings.HasPrefix(c.path, "/healthz") || strings.HasPrefix(c.path, "/readyz") || c.path == "/api/openapi.json" || c.path == "/metrics"
		t.Run(name, func(t *testing.T) {
			if !public { // anonymous: 401 everywhere but the public routes
				req, resp, body := send(c, "", bergen, k)
				if resp.StatusCode != http.StatusUnauthorized || errorCode(body) != api.CodeUnauthenticated {
					t.Errorf("anonymous: %d %s, want 401 unauthenticated", resp.StatusCode, body)
				}
				v.check(t, req, resp, body)
			}
			for _, principal := range principals {
				role, org := auth.Role(strings.SplitN(principal, "@", 2)[0]), history.Realm(principal)
				w := c.roles[indexOf(role)]
				for _, target := range []struct {
					org    string
					status int
				}{{org, w.own}, {other(org), w.foreign}} {
					var before int64
					account := writeAccount(k, principal, target.org)
					if c.write {
						before = e.version(account)
					}
					req, resp, body := send(c, principal, target.org, k)
					if resp.StatusCode != target.status {
						t.Errorf("%s on %s: %d, want %d\nbody: %.400s", principal, target.org, resp.StatusCode, target.status, body)
					}
					if resp.StatusCode >= 400 && errorCode(body) == "" {
						t.Errorf("%s on %s: %d without a JSON error: %.200s", principal, target.org, resp.StatusCode, body)
					}
					if c.write && resp.StatusCode != http.StatusOK {
						if after := e.version(account); after != before {
							t.Errorf("%s on %s: refused with %d, but the incident changed from version %d to %d", principal, target.org, resp.StatusCode, before, after)
						}
					}
					v.check(t, req, resp, body)
					if (role == auth.RoleOrgAdmin || role == auth.RoleDPO) && c.method == "GET" &&
						(strings.HasPrefix(c.path, "/api/incidents?") || c.path == "/api/register") {
						var rows api.Rows
						if err := json.Unmarshal(body, &rows); err != nil || rows.Total != len(secrets[org])/2 {
							t.Errorf("%s: total %d (%v), want the %d incidents of %s", principal, rows.Total, err, len(secrets[org])/2, org)
						}
					}
					for _, forbidden := range forbiddenOrgs(role, org) {
						for _, s := range append(secrets[forbidden], people[forbidden]) {
							if strings.Contains(string(body), s) {
								t.Errorf("%s on %s: the body shows %q of %s: %.300s", principal, target.org, s, forbidden, body)
							}
						}
					}
				}
			}
		})
	}
}

// forbiddenOrgs are the organisations whose accounts and incidents a principal of role in org
// must never see (docs/access.md): soc sees every organisation; org-admin and dpo their own;
// rule-author and admin no one's accounts or incidents.
func forbiddenOrgs(role auth.Role, org string) []string {
	switch role {
	case auth.RoleSOC:
		return nil
	case auth.RoleOrgAdmin, auth.RoleDPO:
		return []string{other(org)}
	}
	return []string{bergen, oslo}
}

func indexOf(r auth.Role) int {
	for i, x := range matrixRoles {
		if x == r {
			return i
		}
	}
	panic("unknown role " + r)
}
