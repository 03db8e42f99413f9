package api

import (
	"net/http"
	"time"

	"breachd/auth"
	"breachd/notify"
)

// handlerFunc is a route's work: it returns the value written as JSON with 200, or an error
// (fail), or nil and nil when it wrote the response itself. p is nil only on public routes.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error)

// route is one registered route: its method and path pattern (http.ServeMux), the action its
// caller must be allowed (auth.Allowed; "" with public false: any signed-in principal),
// whether it is public (no authentication), its body limit and timeout.
type route struct {
	method, path string
	action       auth.Action
	public       bool
	maxBody      int64
	timeout      time.Duration
	h            handlerFunc
}

// routeTable is every route the server registers (the OpenAPI test checks it against
// openapi.yaml). /auth/* are registered by Config.Auth, /metrics by New.
func (s *Server) routeTable() []route {
	pub := func(method, path string, h handlerFunc) route {
		return route{method: method, path: path, public: true, maxBody: maxSmallBody, h: h}
	}
	do := func(method, path string, a auth.Action, body int64, h handlerFunc) route {
		return route{method: method, path: path, action: a, maxBody: body, h: h}
	}
	const small, large = maxSmallBody, maxBody
	backtest := do("POST", "/api/rules/backtest", auth.RulesTest, large, s.rulesBacktest)
	backtest.timeout = s.cfg.BacktestTimeout
	stream := do("GET", "/api/incidents/stream", auth.IncidentsRead, small, s.incStream)
	stream.timeout = s.cfg.StreamMax + time.Minute // the stream ends itself at StreamMax
	return []route{
		pub("GET", "/healthz", s.healthz),
		pub("GET", "/readyz", s.readyz),
		pub("GET", "/api/openapi.json", s.openapi),

		do("GET", "/api/incidents", auth.IncidentsRead, small, s.incList),
		stream,
		do("GET", "/api/incidents/{id}", auth.IncidentsRead, small, s.incShow),
		do("POST", "/api/incidents/{id}/ack", auth.IncidentsWork, small, s.incAck),
		do("POST", "/api/incidents/{id}/transition", auth.IncidentsWork, small, s.incTransition),
		do("POST", "/api/incidents/{id}/comment", auth.IncidentsWork, small, s.incComment),
		do("GET", "/api/incidents/{id}/alerts", auth.IncidentsRead, small, s.incAlerts),
		do("GET", "/api/incidents/{id}/evidence", auth.IncidentsRead, small, s.incEvidence),
		do("POST", "/api/incidents/{id}/evidence", auth.IncidentsWork, small, s.incEvidenceRefresh),
		do("GET", "/api/incidents/{id}/report", auth.IncidentsRead, small, s.incReport),
		do("PATCH", "/api/incidents/{id}/report", auth.IncidentsReport, small, s.incReportPatch),
		do("POST", "/api/incidents/{id}/deactivate", auth.IncidentsWork, small, s.incStep((*notify.Desk).Deactivate)),
		do("POST", "/api/incidents/{id}/approve", auth.IncidentsWork, small, s.incStep((*notify.Desk).Approve)),
		do("POST", "/api/incidents/{id}/cancel", auth.IncidentsWork, small, s.incStep((*notify.Desk).Cancel)),
		do("POST", "/api/incidents/{id}/reactivate", auth.IncidentsWork, small, s.incReactivate),
		do("GET", "/api/register", auth.RegisterRead, small, s.register),

		do("GET", "/api/history/{lookup}", auth.HistoryLookup, small, s.historyLookup),
		do("POST", "/api/history/sql", auth.HistorySQL, small, s.historySQL),
		do("GET", "/api/audit", auth.AuditRead, small, s.audit),

		do("GET", "/api/rules", auth.RulesRead, small, s.rulesList),
		do("GET", "/api/rules/hits", auth.RulesRead, small, s.rulesHits),
		do("GET", "/api/rules/status", auth.RulesRead, small, s.rulesStatus),
		do("POST", "/api/rules/check", auth.RulesTest, large, s.rulesCheck),
		backtest,

		do("GET", "/api/dlq", auth.DLQRead, small, s.dlqList),
		do("POST", "/api/dlq/replay", auth.DLQReplay, small, s.dlqReplay),

		do("GET", "/api/users", auth.UsersAdmin, small, s.usersList),
		do("POST", "/api/users", auth.UsersAdmin, small, s.usersAdd),
		do("POST", "/api/users/{name}/disable", auth.UsersAdmin, small, s.usersDisable),
		do("POST", "/api/users/{name}/tokens", auth.UsersAdmin, small, s.usersToken),
		do("DELETE", "/api/tokens/{id}", auth.UsersAdmin, small, s.tokensRevoke),
		do("GET", "/api/status", auth.StatusRead, small, s.status),
		do("GET", "/api/pipeline", auth.StatusRead, small, s.pipeline),
	}
}
