package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"breachd/event"
	"breachd/notify"
	"breachd/output"
)

// Desk is the incidents desk of the API: the operations of notify.Desk, each one request,
// returning what notify.Desk returns, so that `breachd incidents` prints the same in both
// modes. The server records the signed-in identity in every timeline entry and audit row:
// the actor arguments of notify.Desk have no counterpart here.
type Desk struct{ C *Client }

func incPath(id string, sub ...string) string {
	return "/api/incidents/" + url.PathEscape(id) + strings.Join(append([]string{""}, sub...), "/")
}

// List is GET /api/incidents: every page of the incidents r selects.
func (d Desk) List(ctx context.Context, r notify.ListRequest) (*output.Rows, error) {
	q := url.Values{}
	if r.All {
		q.Set("all", "true")
	}
	setNonEmpty(q, "state", r.State)
	setNonEmpty(q, "org", r.Org)
	rows, err := d.C.Rows(ctx, http.MethodGet, "/api/incidents", q, nil)
	if err != nil {
		return nil, err
	}
	rows.TableColumns = notify.ListTableColumns // as notify.Desk.List: rules and updated only in JSON, CSV and TSV
	return rows, nil
}

// Register is GET /api/register: the register rows of incidents opened in [from, to).
func (d Desk) Register(ctx context.Context, from, to time.Time) (*output.Rows, error) {
	q := url.Values{"from": {from.UTC().Format(time.RFC3339Nano)}, "to": {to.UTC().Format(time.RFC3339Nano)}}
	return d.C.Rows(ctx, http.MethodGet, "/api/register", q, nil)
}

// Show is GET /api/incidents/{id}.
func (d Desk) Show(ctx context.Context, id string) (notify.Shown, error) {
	var s notify.Shown
	err := d.C.Do(ctx, http.MethodGet, incPath(id), nil, nil, &s)
	return s, err
}

// changed posts body to the incident's route sub and returns the incident it answers with.
func (d Desk) changed(ctx context.Context, id, sub string, body any) (notify.Changed, error) {
	var inc event.Incident
	if err := d.C.Do(ctx, http.MethodPost, incPath(id, sub), nil, body, &inc); err != nil {
		return notify.Changed{}, err
	}
	return notify.Changed{Incident: &inc, Now: time.Now()}, nil
}

// Ack is POST /api/incidents/{id}/ack.
func (d Desk) Ack(ctx context.Context, id string, awareAt time.Time, e notify.Edit) (notify.Changed, error) {
	return d.changed(ctx, id, "ack", map[string]any{"aware_at": awareAt.UTC().Format(time.RFC3339Nano), "comment": e.Comment})
}

// Transition is POST /api/incidents/{id}/transition.
func (d Desk) Transition(ctx context.Context, id, to string, e notify.Edit) (notify.Changed, error) {
	return d.changed(ctx, id, "transition", map[string]any{"to": to, "comment": e.Comment})
}

// Comment is POST /api/incidents/{id}/comment.
func (d Desk) Comment(ctx context.Context, id string, step int, e notify.Edit) (notify.Changed, error) {
	return d.changed(ctx, id, "comment", map[string]any{"step": step, "text": e.Comment})
}

// Evidence is GET /api/incidents/{id}/evidence, or with refresh POST (collect new snapshots,
// audited as the signed-in identity).
func (d Desk) Evidence(ctx context.Context, id string, refresh bool) (*output.Rows, error) {
	method := http.MethodGet
	if refresh {
		method = http.MethodPost
	}
	rows, err := d.C.Rows(ctx, method, incPath(id, "evidence"), nil, nil)
	if err != nil {
		return nil, err
	}
	rows.TableColumns = len(notify.EvidenceColumns) - 1 // as notify.Desk.Evidence: the query only in JSON, CSV and TSV
	return rows, nil
}

// deactivation posts body to the incident's respond route sub.
func (d Desk) deactivation(ctx context.Context, id, sub string, body any) (notify.Deactivation, error) {
	var r notify.Deactivation
	err := d.C.Do(ctx, http.MethodPost, incPath(id, sub), nil, body, &r)
	return r, err
}

// Deactivate is POST /api/incidents/{id}/deactivate.
func (d Desk) Deactivate(ctx context.Context, id, comment string) (notify.Deactivation, error) {
	return d.deactivation(ctx, id, "deactivate", map[string]any{"comment": comment})
}

// Approve is POST /api/incidents/{id}/approve.
func (d Desk) Approve(ctx context.Context, id, comment string) (notify.Deactivation, error) {
	return d.deactivation(ctx, id, "approve", map[string]any{"comment": comment})
}

// Cancel is POST /api/incidents/{id}/cancel: a held deactivation is not run.
func (d Desk) Cancel(ctx context.Context, id, comment string) (notify.Deactivation, error) {
	return d.deactivation(ctx, id, "cancel", map[string]any{"comment": comment})
}

// Reactivate is POST /api/incidents/{id}/reactivate.
func (d Desk) Reactivate(ctx context.Context, q notify.ReactivateRequest) (notify.Deactivation, error) {
	return d.deactivation(ctx, q.ID, "reactivate", map[string]any{"force": q.Force, "reason": q.Reason})
}

// Report stores the fields of r.Change that are set (PATCH /api/incidents/{id}/report), reads
// the draft Art. 33 notice (GET) and writes it into r.Dir, its Markdown in r.Lang, as
// notify.Desk.Report does. A language it does not know is refused before anything is stored.
func (d Desk) Report(ctx context.Context, r notify.ReportRequest) (notify.Written, error) {
	if err := notify.CheckReportLanguage(r.Lang); err != nil {
		return notify.Written{}, err
	}
	if c := r.Change; c != (notify.ReportChange{}) {
		body := map[string]string{}
		for k, v := range map[string]string{"consequences": c.Consequences, "measures": c.Measures, "dpo": c.DPO,
			"reference": c.Reference, "delay_reasons": c.DelayReasons, "art34": c.Art34, "art34_reason": c.Art34Reason} {
			if v != "" {
				body[k] = v
			}
		}
		if err := d.C.Do(ctx, http.MethodPatch, incPath(r.ID, "report"), nil, body, nil); err != nil {
			return notify.Written{}, err
		}
	}
	var rep notify.Report
	if err := d.C.Do(ctx, http.MethodGet, incPath(r.ID, "report"), nil, nil, &rep); err != nil {
		return notify.Written{}, err
	}
	return rep.WriteFiles(r.Dir, r.Lang)
}

func setNonEmpty(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func setInt(q url.Values, k string, n int) {
	if n != 0 {
		q.Set(k, strconv.Itoa(n))
	}
}
