package auth

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/oauth2"
)

// testProvider is a real OpenID provider (zitadel/oidc's op, with its example storage)
// listening on 127.0.0.1. Its login page signs in whichever user SignInAs chose, without a
// form; the users' extra claims (entitlements, principal names) go into ID tokens and
// userinfo.
type testProvider struct {
	Issuer  string
	storage *claimStorage

	mu   sync.Mutex
	user string // the user id the login page signs in
}

// testUser is a person at the provider.
type testUser struct {
	ID, Email string
	Claims    map[string]any
}

// claimStorage is the example storage with extra claims per user.
type claimStorage struct {
	*storage.Storage
	claims map[string]map[string]any
}

func (s *claimStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	for k, v := range s.claims[req.GetSubject()] {
		ui.AppendClaims(k, v)
	}
	return nil
}

func (s *claimStorage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, ui, tokenID, subject, origin); err != nil {
		return err
	}
	for k, v := range s.claims[ui.Subject] {
		ui.AppendClaims(k, v)
	}
	return nil
}

// users implements storage.UserStore.
type users map[string]*storage.User

func (u users) GetUserByID(id string) *storage.User { return u[id] }
func (u users) GetUserByUsername(name string) *storage.User {
	for _, x := range u {
		if x.Username == name {
			return x
		}
	}
	return nil
}
func (u users) ExampleClientID() string { return "unused" }

// startProvider starts a provider with web clients (id → secret) that may redirect to any
// of redirects, and people.
func startProvider(t *testing.T, clients map[string]string, redirects []string, people ...testUser) *testProvider {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	us := users{}
	claims := map[string]map[string]any{}
	for _, p := range people {
		us[p.ID] = &storage.User{ID: p.ID, Username: p.ID, Password: "pw-" + p.ID, Email: p.Email, EmailVerified: true}
		claims[p.ID] = p.Claims
	}
	cs := map[string]*storage.Client{}
	for id, secret := range clients {
		cs[id] = storage.WebClient(id, secret, redirects...)
	}
	st := &claimStorage{Storage: storage.NewStorageWithClients(us, cs), claims: claims}
	tp := &testProvider{Issuer: issuer, storage: st}
	provider, err := op.NewProvider(&op.Config{CryptoKey: sha256.Sum256([]byte(t.Name())), CodeMethodS256: true, AuthMethodPost: true},
		st, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatalf("start the test provider: %v", err)
	}
	mux := http.NewServeMux()
	// The login page of the example clients (storage.WebClient): /login/username?authRequestID=…
	mux.HandleFunc("/login/username", func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("authRequestID")
		tp.mu.Lock()
		user := tp.user
		tp.mu.Unlock()
		if err := st.CheckUsernamePassword(user, "pw-"+user, id); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		http.Redirect(w, r, op.AuthCallbackURL(provider)(op.ContextWithIssuer(r.Context(), issuer), id), http.StatusFound)
	})
	mux.Handle("/", provider)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return tp
}

// SignInAs makes the login page sign in user id.
func (tp *testProvider) SignInAs(id string) {
	tp.mu.Lock()
	tp.user = id
	tp.mu.Unlock()
}

// IDToken signs user in as client (code flow with PKCE, redirect_uri redirect, which is not
// contacted) and returns the ID token the provider issues.
func (tp *testProvider) IDToken(t *testing.T, client, secret, redirect, user string) string {
	t.Helper()
	tp.SignInAs(user)
	ctx := context.Background()
	cfg := oauth2.Config{ClientID: client, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"openid", "email"},
		Endpoint: oauth2.Endpoint{AuthURL: tp.Issuer + "/authorize", TokenURL: tp.Issuer + "/oauth/token"}}
	verifier := oauth2.GenerateVerifier()
	hc := &http.Client{CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := hc.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatalf("authorize at the test provider: %v", err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize at the test provider: status %d, location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange the code at the test provider: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("the test provider returned no id_token")
	}
	return raw
}
