// Package hmacsig is the signature of breachd's outgoing webhooks (notifications and the
// deactivation webhook): X-Breachd-Signature = "sha256=" + hex HMAC-SHA256(secret,
// "<timestamp>.<body>"), with the Unix-seconds timestamp in X-Breachd-Timestamp. Receivers
// check both with Verify, which also refuses old timestamps (replays).
package hmacsig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names.
const (
	HeaderSignature = "X-Breachd-Signature" // sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
	HeaderTimestamp = "X-Breachd-Timestamp" // Unix seconds when the request was signed
)

// Sign returns the X-Breachd-Signature value for body sent at ts (Unix seconds as a string).
func Sign(secret []byte, ts string, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors of Verify.
var (
	ErrBadSignature = errors.New("signature does not match")
	ErrStale        = errors.New("timestamp outside the allowed skew")
)

// Verify checks a signed request as a receiver should: sig must be the HMAC of "<ts>.<body>"
// under secret (compared in constant time) and ts (Unix seconds) within maxSkew of now, which
// stops replays of old requests.
func Verify(secret []byte, ts string, body []byte, sig string, maxSkew time.Duration, now time.Time) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q: %w", ts, err)
	}
	skew := now.Sub(time.Unix(sec, 0))
	if skew < 0 {
		skew = -skew
	}
	if skew > maxSkew {
		return fmt.Errorf("%w: %s off", ErrStale, skew.Round(time.Second))
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return fmt.Errorf("%w: no sha256= prefix", ErrBadSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return fmt.Errorf("%w: not hex", ErrBadSignature)
	}
	if !hmac.Equal(got, mac(secret, ts, body)) {
		return ErrBadSignature
	}
	return nil
}
