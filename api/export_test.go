package api

import (
	"log/slog"
	"net/http"
)

// What the black-box tests (package api_test) reach inside: the error codes, the route table
// and the middleware around a handler.
const (
	CodeBadRequest      = codeBadRequest
	CodeInvalidJSON     = codeInvalidJSON
	CodeUnknownField    = codeUnknownField
	CodeBodyTooLarge    = codeBodyTooLarge
	CodeUnauthenticated = codeUnauthenticated
	CodeNotFound        = codeNotFound
	CodeAuditFailed     = codeAuditFailed
	CodeInternal        = codeInternal
)

// RoutePatterns are the "METHOD /path" patterns of the route table.
func RoutePatterns() []string {
	s := &Server{}
	var out []string
	for _, rt := range s.routeTable() {
		out = append(out, rt.method+" "+rt.path)
	}
	return out
}

// Secure is h behind the security headers and, with recovered, the panic recovery.
func Secure(h http.Handler, recovered bool) http.Handler {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	if recovered {
		h = s.recover(h)
	}
	return s.secure(h)
}
