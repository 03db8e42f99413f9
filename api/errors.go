package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"breachd/auth"
	"breachd/history"
	"breachd/ingest/dlq"
	"breachd/notify"
	"breachd/respond"
)

// The stable error codes of the API (docs/api.md). Clients branch on the code, never on the
// message.
const (
	codeBadRequest      = "bad_request"
	codeInvalidJSON     = "invalid_json"
	codeUnknownField    = "unknown_field"
	codeBodyTooLarge    = "body_too_large"
	codeUnauthenticated = "unauthenticated"
	codeForbidden       = "forbidden"
	codeNotFound        = "not_found"
	codeConflict        = "conflict"
	codeUnavailable     = "unavailable"
	codeAuditFailed     = "audit_failed"
	codeInternal        = "internal"
)

// apiError is an error with the status and code it answers with; its message is shown to the
// caller as it is.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return e.message }

// badRequest is a 400 bad_request with a message for the caller.
func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, codeBadRequest, fmt.Sprintf(format, args...)}
}

// notFound is the one answer for a missing incident, account or letter and for one outside the
// caller's organisations: the same status, code and message, so neither tells which.
var (
	incidentNotFound = &apiError{http.StatusNotFound, codeNotFound, "no such incident"}
	accountNotFound  = &apiError{http.StatusNotFound, codeNotFound, "no such account or person in your organisations"}
)

// fail writes err as the JSON error (see errorOf).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	ae := s.errorOf(r, err)
	auth.WriteError(w, ae.status, ae.code, ae.message)
}

// errorOf is the answer to err: the status, code and message of an apiError or of a known
// error of the packages below; anything else is 500 internal, logged, its text not shown.
func (s *Server) errorOf(r *http.Request, err error) *apiError {
	var ae *apiError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &tooLarge):
		return &apiError{http.StatusRequestEntityTooLarge, codeBodyTooLarge, fmt.Sprintf("the body is larger than %d bytes", tooLarge.Limit)}
	case errors.Is(err, notify.ErrNotFound):
		return incidentNotFound
	case errors.Is(err, history.ErrNotInScope):
		if errors.Is(err, history.ErrAudit) { // the answer stays the missing one's; the operator must know
			s.log.Error("a refused lookup could not be audited", "route", r.Pattern, "err", err)
		}
		return accountNotFound
	case errors.Is(err, dlq.ErrNotFound):
		return &apiError{http.StatusNotFound, codeNotFound, "no such dead letter"}
	case errors.Is(err, history.ErrAudit):
		s.log.Error("audit write failed: no data returned", "route", r.Pattern, "err", err)
		return &apiError{http.StatusInternalServerError, codeAuditFailed, "the lookup could not be audited, so no data is returned; tell the operator"}
	case errors.Is(err, notify.ErrTransition), errors.Is(err, respond.ErrState), errors.Is(err, respond.ErrNotFound),
		errors.Is(err, respond.ErrStepsOpen):
		return &apiError{http.StatusConflict, codeConflict, err.Error()}
	case errors.Is(err, notify.ErrInput), errors.Is(err, history.ErrNotReadOnly):
		return &apiError{http.StatusBadRequest, codeBadRequest, err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{http.StatusServiceUnavailable, codeUnavailable, "the request took too long; narrow it, or try again later"}
	default:
		s.log.Error("request failed", "method", r.Method, "route", r.Pattern, "err", err)
		return &apiError{http.StatusInternalServerError, codeInternal, "internal error; the server log has the details"}
	}
}
