package auth

import (
	"github.com/prometheus/client_golang/prometheus"

	"breachd/promreg"
)

// Results of a sign-in (the result label of breach_auth_signins_total).
const (
	signinOK          = "ok"
	signinRefused     = "refused"      // wrong user name or password, a failed OIDC exchange
	signinNoRole      = "no_role"      // OIDC: the claims map to no role
	signinRateLimited = "rate_limited" // local: too many attempts
)

// metrics of the service. Labels are bounded: methods, results and credential kinds, never
// users or addresses.
type metrics struct {
	signins *prometheus.CounterVec // method (local, oidc), result
	refused *prometheus.CounterVec // credential (token, bearer, session, none)
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		signins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breach_auth_signins_total",
			Help: "Sign-ins by method (local, oidc) and result (ok, refused, no_role, rate_limited).",
		}, []string{"method", "result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breach_auth_refused_total",
			Help: "API requests refused 401/403 by authentication, by the credential they carried (token, bearer, session, none).",
		}, []string{"credential"}),
	}
	if err := promreg.All(reg, promreg.Of(&m.signins), promreg.Of(&m.refused)); err != nil {
		return nil, err
	}
	return m, nil
}
