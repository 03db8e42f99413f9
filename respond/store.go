package respond

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/retry"
)

// Bucket is the KV bucket that holds requests, the pending index and the cap windows:
//
//	req.<id>    the Request, JSON; id = RequestID(incident). Created with kv.Create, every
//	            later change is kv.Update on the revision read (compare-and-set).
//	pend.<id>   present while the request may need work from an engine (requested,
//	            retrying, in_progress, reactivating); Engine.ProcessDue lists these keys.
//	cap.<h>     h = 32 hex digits of sha256(org): the organisation's deactivations admitted
//	            in the last 60 minutes, JSON, compare-and-set.
//
// No key contains an account or an organisation in clear (NATS shows keys as subjects).
const Bucket = "responses"

// DefaultMaxAge is how long the bucket keeps a request after its last change. A request for
// an incident is idempotent only while its record exists.
const DefaultMaxAge = 180 * 24 * time.Hour

// EnsureBucket creates or updates the responses bucket. It is safe to call from several
// processes at once and again later. replicas 0 means 1; maxAge 0 means DefaultMaxAge.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, replicas int, maxAge time.Duration) error {
	if replicas <= 0 {
		replicas = 1
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "breachd deactivation requests",
		History:     1,
		TTL:         maxAge,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	}); err != nil {
		return fmt.Errorf("ensure bucket %s: %w", Bucket, err)
	}
	return nil
}

// RequestID is the id of the deactivation request of an incident: 32 hex digits of
// sha256("deactivate" NUL incident). One incident has at most one request.
func RequestID(incident string) string {
	h := sha256.Sum256([]byte("deactivate\x00" + incident))
	return hex.EncodeToString(h[:16])
}

func reqKey(id string) string  { return "req." + id }
func pendKey(id string) string { return "pend." + id }

func capKey(org string) string {
	h := sha256.Sum256([]byte("org\x00" + org))
	return "cap." + hex.EncodeToString(h[:16])
}

// validRequestID accepts what RequestID produces and nothing else.
func validRequestID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// load reads a request and its revision; ErrNotFound (wrapped) if absent.
func (e *Engine) load(ctx context.Context, id string) (*Request, uint64, error) {
	ent, err := e.kv.Get(ctx, reqKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("request %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get request %s: %w", id, err)
	}
	var r Request
	if err := json.Unmarshal(ent.Value(), &r); err != nil {
		return nil, 0, fmt.Errorf("decode request %s: %w", id, err)
	}
	return &r, ent.Revision(), nil
}

// write stores r: created if rev is 0, else only if the key is still at rev (retry.Write). It
// returns the new revision, or an error wrapping retry.ErrLost.
func (e *Engine) write(ctx context.Context, r *Request, rev uint64) (uint64, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encode request %s: %w", r.ID, err)
	}
	nrev, err := retry.Write(ctx, e.kv, reqKey(r.ID), data, rev)
	if err != nil {
		return 0, fmt.Errorf("request in state %s: %w", r.State, err)
	}
	return nrev, nil
}

// markPending puts (or, for a state needing no engine, removes) the request's pend key.
func (e *Engine) markPending(ctx context.Context, r *Request) error {
	if r.Terminal() {
		err := e.kv.Delete(ctx, pendKey(r.ID))
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("clear pending mark of %s: %w", r.ID, err)
		}
		return nil
	}
	if _, err := e.kv.Put(ctx, pendKey(r.ID), nil); err != nil {
		return fmt.Errorf("mark %s pending: %w", r.ID, err)
	}
	return nil
}

// pendingIDs lists up to limit request ids with a pend key.
func (e *Engine) pendingIDs(ctx context.Context, limit int) ([]string, error) {
	lister, err := e.kv.ListKeysFiltered(ctx, pendKey(">"))
	if err != nil {
		return nil, fmt.Errorf("list pending requests: %w", err)
	}
	defer func() { _ = lister.Stop() }()
	var ids []string
	for k := range lister.Keys() {
		if len(ids) < limit {
			if id := k[len("pend."):]; validRequestID(id) {
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}
