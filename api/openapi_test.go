package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"breachd/api"
	"breachd/bus/bustest"
)

// loadDoc loads and validates openapi.yaml with kin-openapi.
func loadDoc(t testing.TB) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

func TestOpenAPIValid(t *testing.T) { loadDoc(t) }

// TestOpenAPIMatchesRoutes: every route the server registers is documented with its method,
// and every documented path and method reaches a registered pattern of the server's mux.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadDoc(t)
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	// Only the mux is looked at, no route is called: the route table, and the sign-in routes
	// the real auth service registers.
	mux := http.NewServeMux()
	registered := map[string]bool{"GET /metrics": true}
	for _, pat := range api.RoutePatterns() {
		registered[pat] = true
		mux.Handle(pat, http.NotFoundHandler())
	}
	svc, _ := startAuth(t, bustest.Start(t))
	authMux := http.NewServeMux()
	svc.Register(authMux)
	svc.Register(mux)
	for _, pat := range []string{"POST /auth/login", "POST /auth/logout", "GET /auth/oidc/login", "GET /auth/oidc/callback", "GET /auth/methods", "GET /api/me",
		"GET /api/me/prefs", "PUT /api/me/prefs"} {
		if _, got := authMux.Handler(httptest.NewRequest(strings.Fields(pat)[0], strings.Fields(pat)[1], nil)); got != pat {
			t.Errorf("the auth service does not register %s (got %q)", pat, got)
		}
		registered[pat] = true
	}
	mux.Handle("GET /metrics", http.NotFoundHandler())
	for r := range registered {
		if !documented[r] {
			t.Errorf("route %s is registered but not in openapi.yaml", r)
		}
	}
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	for d := range documented {
		method, path, _ := strings.Cut(d, " ")
		req := httptest.NewRequest(method, param.ReplaceAllString(path, "x"), nil)
		if _, pattern := mux.Handler(req); pattern != d {
			t.Errorf("openapi.yaml documents %s, but the mux routes it to %q", d, pattern)
		}
	}
	if len(documented) < len(registered) {
		t.Errorf("%d documented routes, %d registered", len(documented), len(registered))
	}
}

// responseValidator checks responses against openapi.yaml.
type responseValidator struct {
	router routers.Router
}

func newResponseValidator(t testing.TB, base string) *responseValidator {
	doc := loadDoc(t)
	doc.Servers = openapi3.Servers{{URL: base}}
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	openapi3filter.RegisterBodyDecoder("text/markdown", func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(body)
		return string(b), err
	})
	return &responseValidator{router: r}
}

// check validates the response of req (status, headers, body) against the document, and a
// request the server answered with success against the document's parameters and body.
func (v *responseValidator) check(t testing.TB, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		t.Errorf("%s %s: not in openapi.yaml: %v", req.Method, req.URL.Path, err)
		return
	}
	reqIn := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if resp.StatusCode < 300 { // a request the server took must be one the document allows
		if err := openapi3filter.ValidateRequest(context.Background(), reqIn); err != nil {
			t.Errorf("%s %s: the request does not match openapi.yaml: %v", req.Method, req.URL, err)
		}
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: reqIn,
		Status:                 resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s: response %d does not match openapi.yaml: %v\nbody: %.300s", req.Method, req.URL, resp.StatusCode, err, body)
	}
}
