package retry

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrLost means a compare-and-set write lost the race: the key was created or changed by
// someone else since it was read.
var ErrLost = errors.New("lost compare-and-set")

// ErrContended means CAS lost the race on every attempt.
var ErrContended = errors.New("changed concurrently too often")

// CASAttempts is how often CAS reads and writes a key before giving up with ErrContended.
const CASAttempts = 10

// Write stores value under key: created if rev is 0, else only if the key is still at rev.
// It returns the new revision, or an error wrapping ErrLost when another writer got there
// first.
func Write(ctx context.Context, kv jetstream.KeyValue, key string, value []byte, rev uint64) (uint64, error) {
	var nrev uint64
	var err error
	if rev == 0 {
		nrev, err = kv.Create(ctx, key, value)
	} else {
		nrev, err = kv.Update(ctx, key, value, rev)
	}
	switch {
	case err == nil:
		return nrev, nil
	case IsLost(err):
		return 0, fmt.Errorf("write %s: %w", key, ErrLost)
	}
	return 0, fmt.Errorf("write %s: %w", key, err)
}

// IsLost reports whether err is a lost compare-and-set: ErrLost, or the KV's own "key exists"
// and "wrong last sequence" answers (the latter also from replicated streams).
func IsLost(err error) bool {
	if errors.Is(err, ErrLost) || errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// CAS runs one compare-and-set operation: attempt is called with a fresh read each time and
// does its read, change and Write; when it returns an error wrapping ErrLost, CAS calls it
// again, at most CASAttempts times, then fails with ErrContended. Any other error (or nil) ends
// the loop. attempt runs again after a lost write, so whatever it does besides its KV writes
// must be safe to repeat (an audit entry written twice, not a call made twice); side effects
// that must happen once belong after CAS returns.
func CAS(ctx context.Context, what string, attempt func(ctx context.Context) error) error {
	for range CASAttempts {
		err := attempt(ctx)
		if err == nil || !IsLost(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
	}
	return fmt.Errorf("%s: %w (%d attempts)", what, ErrContended, CASAttempts)
}
