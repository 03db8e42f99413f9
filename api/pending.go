package api

// PENDING: this file stands in for functions of the auth and scope branches (engineers A and
// B of issue 12) that this branch cannot see yet. Each function below is named after, and
// calls as closely as today's code allows, the function of the contract it stands for; the
// lead replaces each body with the real call at merge (or the whole file, and the callers'
// names with the real ones). Nothing else in package api knows how these are done.
//
//	writeError          → auth.WriteError
//	isNotInScope        → errors.Is(err, history.ErrNotInScope)
//	isAuditFailure      → a typed audit error of history, if B adds one
//	refused             → errors.Is of B's typed refusals (deactivate, approve, reactivate)
//	deskList/Register   → d.List / d.Register (B filters by d.Scope)
//	deskShow ...        → d.Show, d.Ack, d.Transition, d.Comment, d.Evidence, d.Deactivate,
//	                      d.Approve, d.Cancel, d.Reactivate, d.SetReport (B refuses another
//	                      organisation's incident with notify.ErrNotFound)
//	deskDraft           → a Desk method returning the Art. 33 draft without writing files
//	historyLookup       → s.Lookup (B enforces r.Scope, writes r.Ask's identity)
//	historySQL          → s.AuditedSQL with the asker's identity
//	auditRows           → history.AuditLog(ctx, scope, …) (B adds identity columns and scope)
//	ruleHits            → history.Store.RuleHits
//	UserAdmin, UserInfo, TokenInfo → *auth.Users, auth.UserInfo, auth.TokenInfo
//	accountOrg          → the account → organisation rule of B's scope check (the realm after
//	                      the last '@'); rules.go's backtest redaction uses it too, so keep it
//	                      (exported by B, or here) when the rest of this file goes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"breachd/auth"
	"breachd/event"
	"breachd/history"
	"breachd/notify"
	"breachd/output"
)

// writeError writes the JSON error {"error":{"code","message"}} with status.
// PENDING: auth.WriteError.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// errNotInScope stands for history.ErrNotInScope. PENDING.
var errNotInScope = errors.New("account not in scope")

func isNotInScope(err error) bool { return errors.Is(err, errNotInScope) }

// isAuditFailure reports an error of a lookup refused because its audit row could not be
// written. PENDING: today history says so only in the text.
func isAuditFailure(err error) bool {
	return err != nil && strings.Contains(err.Error(), "could not be audited")
}

// accountOrg is the organisation (Feide realm) of an account or person: what follows the last
// '@'. PENDING: history decides this in B's scope check.
func accountOrg(account string) string {
	i := strings.LastIndexByte(account, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(account[i+1:])
}

// deskIncident returns the incident id when it is in d.Scope, else notify.ErrNotFound.
func deskIncident(ctx context.Context, d *notify.Desk, id string) (*event.Incident, error) {
	inc, err := d.Incidents.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !d.Scope.Contains(inc.Org) {
		return nil, fmt.Errorf("incident %s: %w", id, notify.ErrNotFound)
	}
	return inc, nil
}

// inScopeRows keeps the rows whose org column is in scope. PENDING: B filters in the Desk.
func inScopeRows(t *output.Rows, err error, scope event.Scope) (*output.Rows, error) {
	if err != nil {
		return nil, err
	}
	col := -1
	for i, c := range t.Columns {
		if c == "org" {
			col = i
		}
	}
	kept := t.Rows[:0]
	for _, row := range t.Rows {
		if col < 0 { // no org column: nothing is known to be in scope
			break
		}
		if org, _ := row[col].(string); scope.Contains(org) {
			kept = append(kept, row)
		}
	}
	t.Rows = kept
	return t, nil
}

func deskList(ctx context.Context, d *notify.Desk, r notify.ListRequest) (*output.Rows, error) {
	t, err := d.List(ctx, r)
	return inScopeRows(t, err, d.Scope)
}

func deskRegister(ctx context.Context, d *notify.Desk, from, to time.Time) (*output.Rows, error) {
	t, err := d.Register(ctx, from, to)
	return inScopeRows(t, err, d.Scope)
}

func deskShow(ctx context.Context, d *notify.Desk, id string) (notify.Shown, error) {
	if _, err := deskIncident(ctx, d, id); err != nil {
		return notify.Shown{}, err
	}
	return d.Show(ctx, id)
}

func deskAck(ctx context.Context, d *notify.Desk, id string, aware time.Time, e notify.Edit) (notify.Changed, error) {
	if _, err := deskIncident(ctx, d, id); err != nil {
		return notify.Changed{}, err
	}
	return d.Changed(d.Incidents.Ack(ctx, id, aware, e))
}

func deskTransition(ctx context.Context, d *notify.Desk, id, to string, e notify.Edit) (notify.Changed, error) {
	if _, err := deskIncident(ctx, d, id); err != nil {
		return notify.Changed{}, err
	}
	return d.Changed(d.Incidents.Transition(ctx, id, to, e))
}

func deskComment(ctx context.Context, d *notify.Desk, id string, step int, e notify.Edit) (notify.Changed, error) {
	if _, err := deskIncident(ctx, d, id); err != nil {
		return notify.Changed{}, err
	}
	return d.Changed(d.Incidents.Comment(ctx, id, step, e))
}

func deskSetReport(ctx context.Context, d *notify.Desk, id string, c notify.ReportChange, e notify.Edit) (notify.Changed, error) {
	if _, err := deskIncident(ctx, d, id); err != nil {
		return notify.Changed{}, err
	}
	return d.Changed(d.Incidents.SetReport(ctx, id, c, e))
}

func deskEvidence(ctx context.Context, d *notify.Desk, id string, refresh bool, actor string) (*output.Rows, error) {
	if _, err := deskIncident(ctx, d, id); err != nil {
		return nil, err
	}
	return d.Evidence(ctx, id, refresh, actor)
}

func deskDeactivate(ctx context.Context, d *notify.Desk, id, comment, actor string) (notify.Deactivation, error) {
	if _, err := deskIncident(ctx, d, id); err != nil {
		return notify.Deactivation{}, err
	}
	return refused(d.Deactivate(ctx, id, comment, actor))
}

func deskApprove(ctx context.Context, d *notify.Desk, id, comment, actor string) (notify.Deactivation, error) {
	if _, err := deskIncident(ctx, d, id); err != nil {
		return notify.Deactivation{}, err
	}
	return refused(d.Approve(ctx, id, comment, actor))
}

func deskReactivate(ctx context.Context, d *notify.Desk, q notify.ReactivateRequest) (notify.Deactivation, error) {
	if _, err := deskIncident(ctx, d, q.ID); err != nil {
		return notify.Deactivation{}, err
	}
	return refused(d.Reactivate(ctx, q))
}

// refused turns the Desk's refusals of a deactivation step, not yet typed errors, into 409
// conflict. PENDING: B wraps them (notify.ErrTransition / ErrInput), and this goes.
func refused(d notify.Deactivation, err error) (notify.Deactivation, error) {
	if err == nil {
		return d, nil
	}
	for _, s := range []string{"nothing to approve", "there is no deactivation request", "reactivation refused"} {
		if strings.Contains(err.Error(), s) {
			return d, &apiError{http.StatusConflict, codeConflict, err.Error()}
		}
	}
	return d, err
}

// deskCancel stands for Desk.Cancel, which B adds (respond has no cancel yet).
func deskCancel(ctx context.Context, d *notify.Desk, id, _, _ string) (notify.Deactivation, error) {
	if _, err := deskIncident(ctx, d, id); err != nil {
		return notify.Deactivation{}, err
	}
	return notify.Deactivation{}, &apiError{http.StatusServiceUnavailable, codeUnavailable, "cancelling a held deactivation is not available in this build"}
}

// deskDraft builds the Art. 33 draft of incident id as Desk.Report does, without writing
// files (the categories of people: one history query, audited as actor).
func deskDraft(ctx context.Context, d *notify.Desk, id, actor string) (notify.Report, error) {
	inc, err := deskIncident(ctx, d, id)
	if err != nil {
		return notify.Report{}, err
	}
	evs, err := d.History.EvidenceOf(ctx, id)
	if err != nil {
		return notify.Report{}, err
	}
	people, err := d.History.ReportPeople(ctx, actor, inc, evs)
	if err != nil {
		return notify.Report{}, err
	}
	return notify.BuildReport(inc, evs, people, time.Now())
}

// historyLookup stands for Store.Lookup with r.Scope enforced (history.ErrNotInScope).
func historyLookup(ctx context.Context, s *history.Store, r history.LookupRequest) (*output.Rows, error) {
	if !r.Scope.Contains(accountOrg(r.Who)) {
		return nil, fmt.Errorf("lookup of %q: %w", r.Who, errNotInScope)
	}
	return s.Lookup(ctx, r)
}

// historySQL stands for AuditedSQL with the asker's identity.
func historySQL(ctx context.Context, s *history.Store, ask history.Asker, stmt string, lim history.SQLLimits) (*output.Rows, error) {
	return s.AuditedSQL(ctx, ask.Who, ask.Why, stmt, lim)
}

// auditColumns are the columns of the audit view.
var auditColumns = []string{"time", "actor", "action", "target", "reason", "detail"}

// auditRows stands for history.AuditLog(ctx, scope, …): the audit rows of [from, to) whose
// target is in scope.
func auditRows(ctx context.Context, s *history.Store, scope event.Scope, from, to time.Time, limit int) (*output.Rows, error) {
	es, err := s.AuditLog(ctx, from, to, limit)
	if err != nil {
		return nil, err
	}
	t := &output.Rows{Columns: auditColumns}
	for _, e := range es {
		if scope.All || scope.Contains(accountOrg(e.Target)) {
			t.Rows = append(t.Rows, []any{e.Time, e.Actor, e.Action, e.Target, e.Reason, e.Detail})
		}
	}
	return t, nil
}

// ruleHitColumns are the columns of ruleHits: per rule and time bucket, alerts and distinct
// accounts (counts only).
var ruleHitColumns = []string{"rule", "bucket", "alerts", "accounts"}

// ruleHits stands for history.Store.RuleHits: the stored alerts of [from, to) per rule and
// bucket, counts only (server-side parameters).
func ruleHits(ctx context.Context, s *history.Store, from, to time.Time, bucket time.Duration) (*output.Rows, error) {
	const layout = "2006-01-02 15:04:05.000"
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{
		"from_t": from.UTC().Format(layout), "to_t": to.UTC().Format(layout),
		"bucket": strconv.FormatInt(int64(bucket/time.Second), 10),
	}))
	rows, err := s.Conn().Query(ctx, `SELECT rule_id, toStartOfInterval(event_time, toIntervalSecond({bucket:UInt32})) AS b,
		count(), uniqExact(account) FROM alerts FINAL
		WHERE event_time >= {from_t:DateTime64(3, 'UTC')} AND event_time < {to_t:DateTime64(3, 'UTC')}
		GROUP BY rule_id, b ORDER BY b, rule_id`)
	if err != nil {
		return nil, fmt.Errorf("rule hits: %w", err)
	}
	defer rows.Close()
	t := &output.Rows{Columns: ruleHitColumns}
	for rows.Next() {
		var rule string
		var b time.Time
		var alerts, accounts uint64
		if err := rows.Scan(&rule, &b, &alerts, &accounts); err != nil {
			return nil, fmt.Errorf("rule hits: %w", err)
		}
		t.Rows = append(t.Rows, []any{rule, b.UTC(), alerts, accounts})
	}
	return t, rows.Err()
}

// UserAdmin manages users and API tokens. PENDING: *auth.Users (OpenUsers) is one; the lead
// replaces this interface with it at merge.
type UserAdmin interface {
	List() []UserInfo
	Add(name string, roles []auth.Role, orgs []string, password string) error
	Disable(name string) error
	IssueToken(name, label string, ttl time.Duration) (token string, info TokenInfo, err error)
	RevokeToken(id string) error
}

// UserInfo is a user as listed (no hash). PENDING: auth.UserInfo.
type UserInfo struct {
	Name     string      `json:"name"`
	Roles    []auth.Role `json:"roles"`
	Orgs     []string    `json:"orgs"`
	Disabled bool        `json:"disabled"`
}

// TokenInfo is an API token as listed (no secret). PENDING: auth.TokenInfo.
type TokenInfo struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Label   string    `json:"label"`
	Expires time.Time `json:"expires"`
}
