package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// WriteError writes the API's error body {"error":{"code":…,"message":…}} with status. The
// one error writer of the API: code is one of the stable codes (bad_request, invalid_json,
// unknown_field, body_too_large, unauthenticated, forbidden, csrf, not_found, conflict,
// rate_limited, unavailable, audit_failed, internal); msg is for people and must not leak
// what the caller may not know.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, status, struct {
		Error body `json:"error"`
	}{body{code, msg}})
}

// writeJSON writes v as JSON with status; nothing of it is cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decodeStrict decodes r's JSON body (at most limit bytes) into v; unknown fields, trailing
// data and a larger body are refused with the API's error (it returns false then).
func decodeStrict(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON object")
	}
	var mb *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &mb):
		WriteError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than %d bytes", limit))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		WriteError(w, http.StatusBadRequest, "unknown_field", strings.TrimPrefix(err.Error(), "json: "))
	default:
		WriteError(w, http.StatusBadRequest, "invalid_json", "the body is not the JSON object expected: "+err.Error())
	}
	return false
}
