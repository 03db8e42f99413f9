package channel

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

// Dedup record states.
const (
	stateSending   = "sending"
	stateDelivered = "delivered"
)

// record is the value of a dedup key: who claimed the delivery and when.
type record struct {
	State string    `json:"state"`
	Owner string    `json:"owner"`
	At    time.Time `json:"at"`
}

// dedup remembers deliveries per (channel, Key) in a KV bucket. A delivery is claimed with
// Create before the first attempt, marked delivered after success and released (deleted) when
// it failed, so a later Dispatch may try again. A claim older than lease is taken as
// abandoned (its owner crashed mid-send) and may be taken over with a compare-and-set.
type dedup struct {
	kv    jetstream.KeyValue
	owner string
	lease time.Duration
	clock func() time.Time
}

// dedupKey is "<channel>.<32 hex of sha256(Key)>"; channel names are validated to be
// KV-safe ([A-Za-z0-9_-]).
func dedupKey(channel, key string) string {
	h := sha256.Sum256([]byte(key))
	return channel + "." + hex.EncodeToString(h[:16])
}

// claim returns the revision of the claim it now holds, or, when the delivery was made or is
// being made by someone else, that sender's record (State delivered or sending).
func (d *dedup) claim(ctx context.Context, channel, key string) (rev uint64, other *record, err error) {
	k := dedupKey(channel, key)
	val, _ := json.Marshal(record{State: stateSending, Owner: d.owner, At: d.clock().UTC()})
	for range 3 { // a claim deleted between Create and Get: try again
		rev, err = retry.Write(ctx, d.kv, k, val, 0)
		if err == nil {
			return rev, nil, nil
		}
		if !retry.IsLost(err) {
			return 0, nil, fmt.Errorf("claim: %w", err)
		}
		e, err := d.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return 0, nil, fmt.Errorf("read claim %s: %w", k, err)
		}
		var r record
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			return 0, nil, fmt.Errorf("read claim %s: %w", k, err)
		}
		if r.State == stateDelivered || d.clock().Sub(r.At) < d.lease {
			return 0, &r, nil
		}
		rev, err = retry.Write(ctx, d.kv, k, val, e.Revision())
		if retry.IsLost(err) {
			return 0, &record{State: stateSending, Owner: "another dispatcher"}, nil // it took the abandoned claim over first
		}
		if err != nil {
			return 0, nil, fmt.Errorf("take over claim: %w", err)
		}
		return rev, nil, nil
	}
	return 0, nil, fmt.Errorf("claim %s: claim keeps disappearing", k)
}

// delivered records a successful delivery. It overwrites unconditionally: whatever happened
// to the claim meanwhile, the message was delivered.
func (d *dedup) delivered(ctx context.Context, channel, key string) error {
	k := dedupKey(channel, key)
	val, _ := json.Marshal(record{State: stateDelivered, Owner: d.owner, At: d.clock().UTC()})
	if _, err := d.kv.Put(ctx, k, val); err != nil {
		return fmt.Errorf("record delivery %s: %w", k, err)
	}
	return nil
}

// release drops a claim after a failed delivery, if it is still ours.
func (d *dedup) release(ctx context.Context, channel, key string, rev uint64) error {
	k := dedupKey(channel, key)
	if err := d.kv.Delete(ctx, k, jetstream.LastRevision(rev)); err != nil && !retry.IsLost(err) {
		return fmt.Errorf("release claim %s: %w", k, err)
	}
	return nil
}
