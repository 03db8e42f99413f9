package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"breachd/auth"
)

// status is the configuration status (Config.Status).
func (s *Server) status(_ http.ResponseWriter, r *http.Request, _ *auth.Principal) (any, error) {
	if s.cfg.Status == nil {
		return nil, &apiError{http.StatusServiceUnavailable, codeUnavailable, "no status on this server"}
	}
	return s.cfg.Status(r.Context()), nil
}

// users is Config.Users, or 503.
func (s *Server) users() (*auth.Users, error) {
	if s.cfg.Users == nil {
		return nil, &apiError{http.StatusServiceUnavailable, codeUnavailable, "no users file on this server"}
	}
	return s.cfg.Users, nil
}

func (s *Server) usersList(_ http.ResponseWriter, _ *http.Request, _ *auth.Principal) (any, error) {
	u, err := s.users()
	if err != nil {
		return nil, err
	}
	return map[string]any{"users": u.List()}, nil
}

func (s *Server) usersAdd(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	var b struct {
		Name     string   `json:"name"`
		Roles    []string `json:"roles"`
		Orgs     []string `json:"orgs"`
		Password string   `json:"password"`
	}
	if err := decode(r, &b); err != nil {
		return nil, err
	}
	u, err := s.users()
	if err != nil {
		return nil, err
	}
	if err := checkName("name", b.Name); err != nil {
		return nil, err
	}
	roles := make([]auth.Role, 0, len(b.Roles))
	for _, r := range b.Roles {
		role, err := auth.ParseRole(r)
		if err != nil {
			return nil, badRequest("roles: %v", err)
		}
		roles = append(roles, role)
	}
	for _, o := range b.Orgs {
		if err := checkName("orgs", o); err != nil {
			return nil, err
		}
	}
	out := map[string]string{"name": b.Name}
	if b.Password == "" { // a first password, shown once
		b.Password = auth.NewPassword()
		out["password"] = b.Password
	}
	if err := u.Add(b.Name, roles, b.Orgs, b.Password); err != nil {
		return nil, usersError(err)
	}
	s.log.Info("user added", "by", p.Actor(), "user", b.Name, "roles", b.Roles)
	return out, nil
}

func (s *Server) usersDisable(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	var b struct{}
	name := r.PathValue("name")
	err := checkName("name", name)
	if err == nil {
		err = decode(r, &b)
	}
	if err != nil {
		return nil, err
	}
	u, err := s.users()
	if err != nil {
		return nil, err
	}
	if err := u.Disable(name); err != nil {
		return nil, usersError(err)
	}
	s.log.Info("user disabled", "by", p.Actor(), "user", name)
	return map[string]string{"name": name}, nil
}

func (s *Server) usersToken(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	var b struct {
		Label string `json:"label"`
		TTL   string `json:"ttl"`
	}
	name := r.PathValue("name")
	err := checkName("name", name)
	if err == nil {
		err = decode(r, &b)
	}
	if err != nil {
		return nil, err
	}
	var ttl time.Duration // 0: auth.DefaultTokenTTL; IssueToken checks the bounds
	if b.TTL != "" {
		if ttl, err = time.ParseDuration(b.TTL); err != nil || ttl == 0 {
			return nil, badRequest("ttl: want a duration such as 720h (at most %d days)", auth.MaxTokenTTL/(24*time.Hour))
		}
	}
	if strings.TrimSpace(b.Label) != "" {
		if err := checkName("label", b.Label); err != nil {
			return nil, err
		}
	}
	u, err := s.users()
	if err != nil {
		return nil, err
	}
	tok, info, err := u.IssueToken(name, b.Label, ttl)
	if err != nil {
		return nil, usersError(err)
	}
	s.log.Info("token issued", "by", p.Actor(), "user", name, "token_id", info.ID)
	return struct {
		Token string         `json:"token"`
		Info  auth.TokenInfo `json:"info"`
	}{tok, info}, nil
}

func (s *Server) tokensRevoke(_ http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	id := r.PathValue("id")
	if err := checkName("token id", id); err != nil {
		return nil, err
	}
	u, err := s.users()
	if err != nil {
		return nil, err
	}
	if err := u.RevokeToken(id); err != nil {
		return nil, usersError(err)
	}
	s.log.Info("token revoked", "by", p.Actor(), "token_id", id)
	return map[string]string{"id": id}, nil
}

// usersError is the answer to a refused change of the users file: 404 for a missing user or
// token, 409 for a user that exists, else 400 with what was wrong in the request (a name, a
// role, a password too short, a lifetime out of range).
func usersError(err error) error {
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return &apiError{http.StatusNotFound, codeNotFound, err.Error()}
	case errors.Is(err, auth.ErrExists):
		return &apiError{http.StatusConflict, codeConflict, err.Error()}
	}
	return badRequest("%v", err)
}
