package notify

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/event"
	"breachd/retry"
)

// Store reads and writes incidents in the KV bucket bus.BucketIncidents. Its layout:
//
//	inc.<ID>    the incident, JSON event.Incident. Every change is a compare-and-set on the
//	            key's revision (kv.Create for version 1, kv.Update(key, value, rev) after).
//	open.<h>    h = the first 32 hex digits of sha256(org "\x00" account): the ID of the
//	            account's current incident. Claimed with kv.Create when absent, moved with
//	            kv.Update on its revision when the incident it names is closed.
//
// Hashing keeps account names (personal data) out of keys, which NATS shows as subjects.
// Readers treat a pointer to a closed or missing incident as "no open incident", so a crash
// between writing the pointer and writing the incident leaves nothing wrong behind: the next
// alert for the account creates the incident under the claimed ID.
//
// A Store is safe for concurrent use, also by several processes: all writes are
// compare-and-set, so concurrent writers never lose an update; the loser re-reads and retries.
type Store struct {
	kv     jetstream.KeyValue
	listed listed // List's copy of the bucket
}

// ErrNotFound is returned (wrapped) when no incident matches.
var ErrNotFound = errors.New("incident not found")

// NewStore binds to the incidents bucket, which bus.Ensure creates. It reads and writes
// nothing else; changes go through Incidents, which publishes them.
func NewStore(ctx context.Context, js jetstream.JetStream) (*Store, error) {
	kv, err := js.KeyValue(ctx, bus.BucketIncidents)
	if err != nil {
		return nil, fmt.Errorf("bind bucket %s (created by bus.Ensure): %w", bus.BucketIncidents, err)
	}
	return &Store{kv: kv}, nil
}

func incKey(id string) string { return "inc." + id }

func openKey(org, account string) string {
	h := sha256.Sum256([]byte(org + "\x00" + account))
	return "open." + hex.EncodeToString(h[:16])
}

// ValidID accepts what IncidentID produces (and nothing a KV key would read as a wildcard).
func ValidID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Get returns the incident with the given id, or an error wrapping ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*event.Incident, error) {
	inc, _, err := s.get(ctx, id)
	return inc, err
}

func (s *Store) get(ctx context.Context, id string) (*event.Incident, uint64, error) {
	if !ValidID(id) {
		return nil, 0, fmt.Errorf("incident id %q: %w", id, ErrNotFound)
	}
	e, err := s.kv.Get(ctx, incKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get incident %s: %w", id, err)
	}
	var inc event.Incident
	if err := json.Unmarshal(e.Value(), &inc); err != nil {
		return nil, 0, fmt.Errorf("decode incident %s: %w", id, err)
	}
	return &inc, e.Revision(), nil
}

// OpenFor returns the open incident of account in org, or an error wrapping ErrNotFound.
func (s *Store) OpenFor(ctx context.Context, org, account string) (*event.Incident, error) {
	id, _, err := s.pointer(ctx, openKey(org, account))
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, fmt.Errorf("open incident: %w", ErrNotFound)
	}
	inc, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !inc.Open() || inc.Org != org || inc.Account != account {
		return nil, fmt.Errorf("open incident: %w", ErrNotFound)
	}
	return inc, nil
}

// List returns every incident in the bucket, open or closed, newest (by Opened) first. The
// incidents are shared with later calls: callers must not modify them.
//
// The Store keeps what it listed: the first call reads the latest value of every incident
// (one KV watch), a later one only the changes since the bucket revision the previous call
// ended at (a watch resumed after it), so that a long-lived Store (the API server's) lists
// 10 000 incidents without reading and decoding all of them each time. Calls are serialised.
func (s *Store) List(ctx context.Context) ([]*event.Incident, error) {
	c := &s.listed
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil {
		c.byID = map[string]*event.Incident{}
	}
	var opts []jetstream.WatchOpt
	if c.rev > 0 {
		opts = append(opts, jetstream.ResumeFromRevision(c.rev+1))
	}
	w, err := s.kv.Watch(ctx, incKey(">"), opts...)
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("list incidents: %w", ctx.Err())
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return nil, errors.New("list incidents: watcher stopped")
			case e == nil: // all values up to now delivered
				done = true
			default:
				if err := c.apply(e); err != nil {
					return nil, err
				}
			}
		}
	}
	out := make([]*event.Incident, 0, len(c.byID))
	for _, inc := range c.byID {
		out = append(out, inc)
	}
	slices.SortFunc(out, func(a, b *event.Incident) int {
		return cmp.Or(b.Opened.Compare(a.Opened), cmp.Compare(b.ID, a.ID))
	})
	return out, nil
}

// listed is what List read: the latest value of every incident up to bucket revision rev.
type listed struct {
	mu   sync.Mutex
	rev  uint64
	byID map[string]*event.Incident
}

// apply records one entry of the watch (in revision order: a later one replaces an earlier
// one of the same key); a deleted or purged key leaves the list.
func (c *listed) apply(e jetstream.KeyValueEntry) error {
	if e.Revision() <= c.rev {
		return nil
	}
	id := strings.TrimPrefix(e.Key(), "inc.")
	if e.Operation() != jetstream.KeyValuePut {
		delete(c.byID, id)
	} else {
		var inc event.Incident
		if err := json.Unmarshal(e.Value(), &inc); err != nil {
			return fmt.Errorf("decode %s: %w", e.Key(), err)
		}
		c.byID[id] = &inc
	}
	c.rev = e.Revision()
	return nil
}

// pointer reads an open.<h> key: the incident id and the key's revision, or "" if absent.
func (s *Store) pointer(ctx context.Context, key string) (string, uint64, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("get %s: %w", key, err)
	}
	id := string(e.Value())
	if !ValidID(id) {
		return "", 0, fmt.Errorf("get %s: bad incident id %q", key, id)
	}
	return id, e.Revision(), nil
}

// outcome is what recording one alert did.
type outcome struct {
	inc       *event.Incident // the incident as written (or as found, for a duplicate)
	ref       event.AlertRef  // the alert's entry: which version it produced
	dup       bool            // the alert was already part of inc; nothing was written
	conflicts int             // compare-and-set races lost on the way
}

// record adds alert a to its account's open incident, opening one if there is none. A
// redelivered alert (already among the incident's recent alerts, or its opening alert) changes
// nothing and comes back with dup set and the version it produced back then.
func (s *Store) record(ctx context.Context, a *event.Alert, now time.Time) (outcome, error) {
	var out outcome
	pkey := openKey(a.Org, a.Account)
	salt := 0
	err := retry.CAS(ctx, "record alert "+a.ID, func(ctx context.Context) error {
		id, prev, err := s.pointer(ctx, pkey)
		if err != nil {
			return err
		}
		if id == "" { // no incident yet: claim the pointer with a new id
			id = newIncidentID(a, now, salt)
			if prev, err = retry.Write(ctx, s.kv, pkey, []byte(id), 0); err != nil {
				return s.lost(&out, fmt.Errorf("claim %s: %w", pkey, err))
			}
		}
		inc, rev, err := s.get(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound): // claimed, not yet written: write version 1
			inc, ref := openIncident(id, a, now)
			if err := s.write(ctx, inc, 0); err != nil {
				return s.lost(&out, err)
			}
			out = outcome{inc: inc, ref: ref, conflicts: out.conflicts}
			return nil
		case err != nil:
			return err
		}
		if ref, ok := knownAlert(inc, a); ok {
			out = outcome{inc: inc, ref: ref, dup: true, conflicts: out.conflicts}
			return nil
		}
		if inc.Org != a.Org || inc.Account != a.Account || !inc.Open() {
			// Closed, or an id collision with another account: point at a new incident.
			next := newIncidentID(a, now, salt)
			for next == id {
				salt++
				next = newIncidentID(a, now, salt)
			}
			if _, err := retry.Write(ctx, s.kv, pkey, []byte(next), prev); err != nil {
				if !retry.IsLost(err) {
					return fmt.Errorf("move %s: %w", pkey, err)
				}
				out.conflicts++
			}
			return retry.ErrLost // read the pointer again
		}
		ref := addAlert(inc, a, now)
		if err := s.write(ctx, inc, rev); err != nil {
			return s.lost(&out, err)
		}
		out = outcome{inc: inc, ref: ref, conflicts: out.conflicts}
		return nil
	})
	return out, err
}

// lost counts err in out if it is a lost compare-and-set, and returns it.
func (s *Store) lost(out *outcome, err error) error {
	if retry.IsLost(err) {
		out.conflicts++
	}
	return err
}

// knownAlert finds a in inc: among the recent alerts, or as the opening alert.
func knownAlert(inc *event.Incident, a *event.Alert) (event.AlertRef, bool) {
	if inc.Org != a.Org || inc.Account != a.Account {
		return event.AlertRef{}, false
	}
	if ref, ok := inc.AlertRef(a.ID); ok {
		return ref, true
	}
	if inc.OpeningAlert == a.ID {
		return event.AlertRef{ID: a.ID, Version: 1}, true
	}
	return event.AlertRef{}, false
}

// write stores inc under inc.<ID>: created if rev is 0, else only if the key is at rev. A lost
// race is an error wrapping retry.ErrLost.
func (s *Store) write(ctx context.Context, inc *event.Incident, rev uint64) error {
	data, err := json.Marshal(inc)
	if err != nil {
		return fmt.Errorf("encode incident %s: %w", inc.ID, err)
	}
	if _, err := retry.Write(ctx, s.kv, incKey(inc.ID), data, rev); err != nil {
		return fmt.Errorf("write incident %s v%d: %w", inc.ID, inc.Version, err)
	}
	return nil
}

// update applies change to the incident id under compare-and-set at time now, retrying when
// another writer got there first (change is then called again on the fresh copy, so it must
// not have side effects). A change that returns an error aborts with that error. On success the
// version is bumped and Updated set. Incidents.Update calls it, and Incidents.recordAlert for the
// deactivation state an alert's request reached (published with the alert's own change).
func (s *Store) update(ctx context.Context, id string, now time.Time, change func(inc *event.Incident) error) (*event.Incident, error) {
	var out *event.Incident
	err := retry.CAS(ctx, "update incident "+id, func(ctx context.Context) error {
		inc, rev, err := s.get(ctx, id)
		if err != nil {
			return err
		}
		if err := change(inc); err != nil {
			return err
		}
		inc.Version++
		inc.Updated = now
		if err := s.write(ctx, inc, rev); err != nil {
			return err
		}
		out = inc
		return nil
	})
	return out, err
}

// newIncidentID derives the id of the incident alert a opens; salt > 0 picks another id after
// a collision with another account's incident.
func newIncidentID(a *event.Alert, now time.Time, salt int) string {
	seed := a.ID
	if salt > 0 {
		seed = fmt.Sprintf("%s#%d", a.ID, salt)
	}
	return event.IncidentID(a.Org, a.Account, seed, idDay(a, now))
}
