package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// BucketPrefs is the KV bucket of people's console preferences (PrefsBucket).
const BucketPrefs = "prefs"

// maxPrefsBody bounds the body of PUT /api/me/prefs.
const maxPrefsBody = 1 << 10

// Prefs are a principal's settings of the console, the same in every browser and on every
// API server: GET and PUT /api/me/prefs.
type Prefs struct {
	// Lang is the console's language: "nb" (Norwegian bokmål), "en", or "" for the
	// browser's (Accept-Language).
	Lang string `json:"lang"`
}

// prefLangs are the values Prefs.Lang may take.
var prefLangs = []string{"", "nb", "en"}

// PrefsBucket creates or opens the KV bucket of preferences (BucketPrefs). Its keys are
// hashes of the principal's identity (prefsKey): no name reaches a NATS subject.
func PrefsBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketPrefs,
		Description: "breachd console preferences per person (keys: SHA-256 of issuer and subject)",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", BucketPrefs, err)
	}
	return kv, nil
}

// prefsKey is the bucket key of p's preferences: a hash of its identity, issuer NUL subject
// (an issuer, a URL or breachd's own, holds no NUL, so two identities never share a key),
// so names never appear in a subject or the bucket's keys.
func prefsKey(p *Principal) string {
	sum := sha256.Sum256([]byte(p.Issuer + "\x00" + p.Subject))
	return "p." + hex.EncodeToString(sum[:])
}

// prefsOf returns p's stored preferences (the zero Prefs when none are stored).
func (s *Service) prefsOf(ctx context.Context, p *Principal) (Prefs, error) {
	var pr Prefs
	e, err := s.prefs.Get(ctx, prefsKey(p))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return pr, nil
	case err != nil:
		return pr, fmt.Errorf("read preferences: %w", err)
	}
	if err := json.Unmarshal(e.Value(), &pr); err != nil {
		return Prefs{}, fmt.Errorf("read preferences: %w", err)
	}
	return pr, nil
}

// getPrefs answers GET /api/me/prefs: the caller's preferences.
func (s *Service) getPrefs(w http.ResponseWriter, r *http.Request) {
	pr, err := s.prefsOf(r.Context(), FromContext(r.Context()))
	if err != nil {
		s.log.Error("preferences", "err", err)
		WriteError(w, http.StatusServiceUnavailable, "unavailable", "preferences are unavailable; try again shortly")
		return
	}
	writeJSON(w, http.StatusOK, pr)
}

// putPrefs answers PUT /api/me/prefs {"lang": ""|"nb"|"en"}: it stores the caller's
// preferences (every field is required) and answers them.
func (s *Service) putPrefs(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Lang *string `json:"lang"`
	}
	if !decodeStrict(w, r, maxPrefsBody, &req) {
		return
	}
	switch {
	case req.Lang == nil:
		WriteError(w, http.StatusBadRequest, "bad_request", `lang is required: "nb", "en", or "" for the browser's language`)
		return
	case !slices.Contains(prefLangs, *req.Lang):
		WriteError(w, http.StatusBadRequest, "bad_request", `lang: want "nb", "en", or "" for the browser's language`)
		return
	}
	pr := Prefs{Lang: *req.Lang}
	b, err := json.Marshal(pr)
	if err == nil {
		_, err = s.prefs.Put(r.Context(), prefsKey(FromContext(r.Context())), b)
	}
	if err != nil {
		s.log.Error("store preferences", "err", err)
		WriteError(w, http.StatusServiceUnavailable, "unavailable", "preferences could not be saved; try again shortly")
		return
	}
	writeJSON(w, http.StatusOK, pr)
}
