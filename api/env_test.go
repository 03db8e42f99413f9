package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/api"
	"breachd/auth"
	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/deploy"
	"breachd/event"
	"breachd/history"
	"breachd/notify"
	"breachd/respond"
)

// The organisations of the tests.
const (
	bergen = "bergen.kommune.no"
	oslo   = "oslo.kommune.no"
)

// principalName is the name of the test principal of role r in org: a local user of that
// name (with '+' as '.') holds the role in the organisation, and the tests send its API token.
func principalName(r auth.Role, org string) string { return string(r) + "@" + org }

// ruleAuthorBergenAdmin is the test principal with two roles: rule-author, and org-admin of
// Bergen (backtests show Bergen's accounts).
const ruleAuthorBergenAdmin = "rule-author+org-admin@" + bergen

// testPassword is every test user's password.
const testPassword = "correct horse battery staple"

// startAuth is the real sign-in service over a users file in a temp dir and the sessions
// bucket of js, with a local user and an API token for every test principal: the role of each
// organisation, and ruleAuthorBergenAdmin. It returns the service and the token of each
// principal name.
func startAuth(tb testing.TB, js *bustest.Server) (*auth.Service, map[string]string) {
	tb.Helper()
	ctx := context.Background()
	kv, err := auth.SessionBucket(ctx, js.JS, 0)
	if err != nil {
		tb.Fatal(err)
	}
	prefs, err := auth.PrefsBucket(ctx, js.JS, 0)
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := auth.New(ctx, auth.Config{UsersFile: filepath.Join(tb.TempDir(), "users.json"), Sessions: kv, Prefs: prefs,
		PublicURL: "http://127.0.0.1", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tokens := map[string]string{}
	add := func(name string, roles []auth.Role, orgs []string) {
		user := strings.ReplaceAll(name, "+", ".")
		if err := svc.Users().Add(user, roles, orgs, testPassword); err != nil {
			tb.Fatal(err)
		}
		tok, _, err := svc.Users().IssueToken(user, "test", 0)
		if err != nil {
			tb.Fatal(err)
		}
		tokens[name] = tok
	}
	for _, org := range []string{bergen, oslo} {
		for _, r := range auth.Roles {
			add(principalName(r, org), []auth.Role{r}, []string{org})
		}
	}
	add(ruleAuthorBergenAdmin, []auth.Role{auth.RoleRuleAuthor, auth.RoleOrgAdmin}, []string{bergen})
	return svc, tokens
}

// env is a running API over real engines: embedded NATS with the incidents of both
// organisations, made by a real notifier from alerts, and the embedded history engine with
// both organisations' events.
type env struct {
	t   testing.TB
	srv *api.Server
	// tokens are the API tokens of the test principals, by name
	tokens map[string]string
	users  *auth.Users // the users file of the sign-in service
	http   *httptest.Server
	incs   *notify.Incidents
	store  *history.Store
	js     *bustest.Server
	now    time.Time
	// incidents by account
	byAccount map[string]*event.Incident
}

var (
	// base accounts of each org, with events in the history
	accountOf = map[string]string{bergen: "kari@" + bergen, oslo: "ola@" + oslo}
)

// openHistory opens the embedded history engine in a temp dir (as history's tests do).
func openHistory(tb testing.TB, dir string) *history.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in, err := deploy.StartHistoryOnly(ctx, deploy.InfraConfig{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatalf("open history: %v", err)
	}
	tb.Cleanup(in.Close)
	return in.History
}

// newEnv starts the engines, stores history events of both organisations, opens an incident
// per account of accounts (plus the base account of each org) and serves the API.
func newEnv(tb testing.TB, accounts []string) *env { return newEnvWith(tb, accounts, nil) }

// newEnvWith is newEnv with the server's configuration changed by configure (if not nil).
func newEnvWith(tb testing.TB, accounts []string, configure func(*api.Config)) *env {
	tb.Helper()
	ctx := context.Background()
	e := &env{t: tb, now: time.Now().UTC(), byAccount: map[string]*event.Incident{}}
	e.js = bustest.Start(tb)
	e.store = openHistory(tb, filepath.Join(tb.TempDir(), "data"))
	var err error
	if e.incs, err = notify.NewIncidents(ctx, e.js.JS, notify.IncidentsOptions{Mirror: e.store}); err != nil {
		tb.Fatal(err)
	}
	e.writeHistory()
	accounts = append([]string{accountOf[bergen], accountOf[oslo]}, accounts...)
	e.openIncidents(accounts)
	e.serve(configure)
	return e
}

// serve serves the API over e's engines, configured further by configure (if not nil), its
// Run (the live incident stream) going until the test ends.
func (e *env) serve(configure func(*api.Config)) {
	log := slog.New(slog.DiscardHandler)
	stores := deploy.Stores{NC: e.js.NC, JS: e.js.JS, History: e.store}
	svc, tokens := startAuth(e.t, e.js)
	e.tokens, e.users = tokens, svc.Users()
	cfg := api.Config{
		Auth: svc, Incidents: e.incs, History: e.store, JS: e.js.JS,
		Respond:  func(ctx context.Context) (*respond.Engine, error) { return deploy.PeopleEngine(ctx, "", stores, log) },
		Users:    svc.Users(),
		Registry: prometheus.NewRegistry(),
		Status:   func(context.Context) any { return map[string]string{"mode": "test"} },
		Log:      log,
	}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := api.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv = srv
	e.http = httptest.NewServer(srv.Handler())
	e.t.Cleanup(e.http.Close)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx) }()
	e.t.Cleanup(func() { // first: ends the open streams, which the server's Close waits for
		cancel()
		if err := <-ran; err != nil {
			e.t.Errorf("api.Server.Run: %v", err)
		}
	})
}

// writeHistory stores a login and a data access of each org's base account, an alert of
// each, and an audited lookup of each (so the audit view has rows of both organisations).
func (e *env) writeHistory() {
	ctx := context.Background()
	at := e.now.Add(-2 * time.Hour).Format(time.RFC3339Nano)
	var lines []string
	for i, org := range []string{bergen, oslo} {
		acc := accountOf[org]
		lines = append(lines,
			fmt.Sprintf(`{"kind":"auth","id":"a-%d","time":%q,"org":%q,"user":%q,"service":"https://lms","result":"success","method":"password","ip":"193.157.1.%d","country":"NO"}`, i, at, org, acc, i+1),
			fmt.Sprintf(`{"kind":"access","id":"x-%d","time":%q,"org":%q,"actor":%q,"actor_role":"teacher","action":"export","subject":"elev%d@%s","resource":"grades","service":"https://lms","records":40}`, i, at, org, acc, i, org))
	}
	var evs []*event.Event
	for _, l := range lines {
		ev, err := event.Parse([]byte(l))
		if err != nil {
			e.t.Fatalf("%s: %v", l, err)
		}
		evs = append(evs, &ev)
	}
	if err := e.store.WriteEvents(ctx, evs); err != nil {
		e.t.Fatal(err)
	}
	var alerts []event.Alert
	for i, org := range []string{bergen, oslo} {
		alerts = append(alerts, event.Alert{ID: fmt.Sprintf("h-%d", i), RuleID: "bulk-export", Severity: event.SeverityHigh, Org: org,
			Account: accountOf[org], EventID: fmt.Sprintf("x-%d", i), EventKind: event.KindAccess, EventTime: e.now.Add(-2 * time.Hour),
			Detected: e.now.Add(-2 * time.Hour), Summary: "export by " + accountOf[org]})
	}
	if err := e.store.WriteAlerts(ctx, alerts); err != nil {
		e.t.Fatal(err)
	}
	for _, org := range []string{bergen, oslo} {
		if _, err := e.store.Lookup(ctx, history.LookupRequest{Lookup: history.LookupLogins, Who: accountOf[org],
			From: e.now.Add(-24 * time.Hour), To: e.now, Ask: history.Asker{Who: "setup", Why: "test setup"}, Scope: event.Everywhere}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// openIncidents publishes one alert per account and runs a real notifier until every
// account has its incident.
func (e *env) openIncidents(accounts []string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := notify.New(e.js.JS, notify.Options{Incidents: e.incs, Mirror: e.store, Logger: slog.New(slog.DiscardHandler), Batch: 256})
	if err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	for i, acc := range accounts {
		a := &event.Alert{ID: fmt.Sprintf("al-%d", i), RuleID: "bulk-export", Title: "bulk export", Severity: event.SeverityHigh,
			Org: history.Realm(acc), Account: acc, EventID: fmt.Sprintf("ev-%d", i), EventKind: event.KindAccess,
			EventTime: e.now.Add(-time.Hour), Detected: e.now.Add(-time.Minute), Summary: "bulk export by " + acc}
		data, err := json.Marshal(a)
		if err != nil {
			e.t.Fatal(err)
		}
		msg := &nats.Msg{Subject: bus.AlertSubject(a.Severity), Data: data, Header: nats.Header{bus.HeaderMsgID: {a.ID}}}
		if _, err := e.js.JS.PublishMsg(ctx, msg); err != nil {
			e.t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		incs, err := e.incs.List(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(incs) >= len(accounts) {
			for _, inc := range incs {
				e.byAccount[inc.Account] = inc
			}
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the notifier opened %d of %d incidents", len(incs), len(accounts))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		e.t.Fatal(err)
	}
}

// do sends a request as principal (""; anonymous) and returns the response and its body.
func (e *env) do(method, path, principal string, body string) (*http.Response, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok, ok := e.tokens[principal]; ok {
		req.Header.Set("Authorization", "Bearer "+tok)
	} else if principal != "" {
		req.Header.Set("Authorization", "Bearer "+principal) // not a token: refused
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
}

// version is the stored version of the incident of account.
func (e *env) version(account string) int64 {
	e.t.Helper()
	inc, err := e.incs.Get(context.Background(), e.byAccount[account].ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return inc.Version
}

// errorCode is the code of a JSON error body, or "" when it is not one.
func errorCode(b []byte) string {
	var v struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	return v.Error.Code
}

// writeLogin stores one successful login of account at t.
func (e *env) writeLogin(account string, t time.Time) {
	e.t.Helper()
	l := fmt.Sprintf(`{"kind":"auth","id":"l-%d","time":%q,"org":%q,"user":%q,"service":"https://lms","result":"success","method":"password","ip":"193.157.1.9","country":"NO"}`,
		t.UnixNano(), t.Format(time.RFC3339Nano), history.Realm(account), account)
	ev, err := event.Parse([]byte(l))
	if err != nil {
		e.t.Fatalf("%s: %v", l, err)
	}
	if err := e.store.WriteEvents(context.Background(), []*event.Event{&ev}); err != nil {
		e.t.Fatal(err)
	}
}
