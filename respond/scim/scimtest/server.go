// Package scimtest is a small SCIM 2.0 service provider for tests: a real HTTP server on
// 127.0.0.1 holding Users, answering "userName eq" filter queries and PatchOp requests on
// "active" as RFC 7644 describes, counting requests and failing on demand. Tests only.
package scimtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Server is the running provider. Its methods are safe for concurrent use.
type Server struct {
	URL   string // base URL, e.g. http://127.0.0.1:port/scim/v2
	Token string

	mu       sync.Mutex
	users    map[string]*User // by id
	patches  int
	searches int
	fails    []failure     // answers for the next PATCH requests
	gate     chan struct{} // while not nil, PATCH requests wait for it to close
}

// User is a stored user.
type User struct {
	ID       string
	UserName string
	Active   bool
}

type failure struct {
	status     int
	retryAfter string
}

// Start serves a provider with the given user names (all active) until tb ends.
func Start(tb testing.TB, userNames ...string) *Server {
	tb.Helper()
	s := &Server{Token: "test-token-123", users: map[string]*User{}}
	for i, n := range userNames {
		id := fmt.Sprintf("u%04d", i+1)
		s.users[id] = &User{ID: id, UserName: n, Active: true}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /scim/v2/Users", s.search)
	mux.HandleFunc("PATCH /scim/v2/Users/{id}", s.patch)
	hs := httptest.NewServer(s.auth(mux)) // httptest listens on 127.0.0.1
	tb.Cleanup(hs.Close)
	s.URL = hs.URL + "/scim/v2"
	return s
}

// FailPatches makes the next n PATCH requests fail with status (and a Retry-After header
// if retryAfter is not empty), without changing anything.
func (s *Server) FailPatches(n, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fails = append(s.fails, failure{status, retryAfter})
	}
}

// Hold makes PATCH requests that arrive from now on wait (counted by Patches, not yet
// applied) until the returned release function is called.
func (s *Server) Hold() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := make(chan struct{})
	s.gate = g
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.gate = nil
			s.mu.Unlock()
			close(g)
		})
	}
}

// Patches returns how many PATCH requests arrived (failed and held ones included).
func (s *Server) Patches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.patches
}

// Searches returns how many filter queries were answered.
func (s *Server) Searches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.searches
}

// Active reports whether the user named userName is active; ok is false if there is none.
func (s *Server) Active(userName string) (active, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.UserName == userName {
			return u.Active, true
		}
	}
	return false, false
}

func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+s.Token {
			scimError(w, http.StatusUnauthorized, "", "bad or missing bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// search answers GET /Users?filter=userName eq "value" (RFC 7644 3.4.2.2).
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	f := r.URL.Query().Get("filter")
	attr, rest, ok1 := strings.Cut(strings.TrimSpace(f), " ")
	op, val, ok2 := strings.Cut(strings.TrimSpace(rest), " ")
	var want string
	if !ok1 || !ok2 || !strings.EqualFold(attr, "userName") || !strings.EqualFold(op, "eq") ||
		json.Unmarshal([]byte(strings.TrimSpace(val)), &want) != nil {
		scimError(w, http.StatusBadRequest, "invalidFilter", "only 'userName eq \"value\"' is supported")
		return
	}
	s.mu.Lock()
	s.searches++
	res := []map[string]any{}
	for _, u := range s.users {
		if strings.EqualFold(u.UserName, want) { // userName is caseExact=false
			res = append(res, resource(u))
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":      []string{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
		"totalResults": len(res), "startIndex": 1, "itemsPerPage": len(res), "Resources": res,
	})
}

// patch applies a PatchOp that replaces "active" (path "active", or no path and a value
// object holding "active"), RFC 7644 3.5.2.3.
func (s *Server) patch(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") && !strings.HasPrefix(ct, "application/json") {
		scimError(w, http.StatusUnsupportedMediaType, "", "content type "+ct)
		return
	}
	var body struct {
		Schemas    []string `json:"schemas"`
		Operations []struct {
			Op    string          `json:"op"`
			Path  string          `json:"path"`
			Value json.RawMessage `json:"value"`
		} `json:"Operations"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Schemas) != 1 ||
		body.Schemas[0] != "urn:ietf:params:scim:api:messages:2.0:PatchOp" || len(body.Operations) == 0 {
		scimError(w, http.StatusBadRequest, "invalidSyntax", "not a PatchOp")
		return
	}
	s.mu.Lock()
	s.patches++
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[r.PathValue("id")]
	if u == nil {
		scimError(w, http.StatusNotFound, "", "no such user")
		return
	}
	if len(s.fails) > 0 {
		f := s.fails[0]
		s.fails = s.fails[1:]
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		scimError(w, f.status, "", "injected failure")
		return
	}
	active := u.Active
	for _, op := range body.Operations {
		if !strings.EqualFold(op.Op, "replace") {
			scimError(w, http.StatusBadRequest, "invalidValue", "only replace is supported")
			return
		}
		var v bool
		switch {
		case strings.EqualFold(op.Path, "active") && json.Unmarshal(op.Value, &v) == nil:
		case op.Path == "":
			var obj struct{ Active *bool }
			if json.Unmarshal(op.Value, &obj) != nil || obj.Active == nil {
				scimError(w, http.StatusBadRequest, "invalidValue", "value without active")
				return
			}
			v = *obj.Active
		default:
			scimError(w, http.StatusBadRequest, "invalidPath", "only active is supported")
			return
		}
		active = v
	}
	u.Active = active
	writeJSON(w, http.StatusOK, resource(u))
}

func resource(u *User) map[string]any {
	return map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"id":      u.ID, "userName": u.UserName, "active": u.Active,
		"meta": map[string]any{"resourceType": "User", "location": "/Users/" + u.ID},
	}
}

func scimError(w http.ResponseWriter, status int, scimType, detail string) {
	body := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"status": fmt.Sprint(status), "detail": detail}
	if scimType != "" {
		body["scimType"] = scimType
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
