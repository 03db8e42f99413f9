package channel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"

	"breachd/event"
)

// Message kinds. Kind is a free lower-case token (it becomes part of a NATS subject), so the
// notifier and the deadline clock may add their own; these are the ones breachd sends.
const (
	KindOpened       = "opened"       // an incident was opened
	KindEscalated    = "escalated"    // an alert raised an incident's severity
	KindDeactivation = "deactivation" // an incident requested (or performed) deactivation
	KindTransition   = "transition"   // a lifecycle state change
)

// DeadlineKind is the kind of an escalation at a mark after awareness while the incident is
// not reported, e.g. DeadlineKind(24*time.Hour) = "deadline-24h".
func DeadlineKind(mark time.Duration) string {
	return fmt.Sprintf("deadline-%dh", int64(mark/time.Hour))
}

var kindRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Message is one notification: what every channel renders in its own way.
type Message struct {
	// Key identifies the notification for deduplication: the same Key is delivered at most
	// once per channel while the dedup bucket remembers it (e.g. "<incident id>/opened/v1",
	// "<incident id>/deadline-24h"). Required.
	Key string `json:"key"`
	// Kind is one of the Kind* constants or DeadlineKind: [a-z0-9][a-z0-9_-]*, at most 64.
	Kind     string         `json:"kind"`
	Severity event.Severity `json:"severity"`
	Org      string         `json:"org"`
	Tags     []string       `json:"tags,omitempty"`
	// Title is one short line (e.g. the incident summary); Text is plain text, may be empty.
	Title string `json:"title"`
	Text  string `json:"text,omitempty"`
	// Link points at the incident in the console. The Dispatcher fills it from link_base when
	// it is empty and Incident is set.
	Link string `json:"link,omitempty"`
	// Incident is the incident's state when the message was made. Read-only; may be nil.
	Incident *event.Incident `json:"incident,omitempty"`
}

// Validate reports what is missing or malformed in m.
func (m *Message) Validate() error {
	switch {
	case m.Key == "":
		return fmt.Errorf("message has no key")
	case !kindRE.MatchString(m.Kind):
		return fmt.Errorf("message %q: kind %q is not a lower-case token [a-z0-9_-]", m.Key, m.Kind)
	case m.Severity.Rank() == 0:
		return fmt.Errorf("message %q: unknown severity %q", m.Key, m.Severity)
	}
	return nil
}

// DeliveryID is the id receivers can deduplicate by: the first 32 hex digits of
// sha256(Key). Every attempt and every channel sends the same id for one Key.
func (m *Message) DeliveryID() string {
	h := sha256.Sum256([]byte(m.Key))
	return hex.EncodeToString(h[:16])
}

// Channel delivers messages to one destination.
//
// Send makes one attempt: it must honour ctx (it carries the per-attempt deadline) and must
// not modify m. It returns nil once the destination accepted the message. An error marked by
// retry.Permanent means a retry cannot help (bad request, rejected credentials, invalid
// recipient); any other error is treated as transient and retried, after retry.RetryAfter(err)
// if it says so.
// Errors must not contain secrets (webhook URLs with tokens, passwords). Send is called
// concurrently.
type Channel interface {
	Name() string
	Send(ctx context.Context, m Message) error
}
