package event

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Severity of an alert, from least to most urgent.
type Severity string

// Severities, in increasing order.
const (
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Severities lists the valid severities in increasing order.
var Severities = []Severity{SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// Rank orders severities: low=1 … critical=4, unknown=0.
func (s Severity) Rank() int {
	for i, v := range Severities {
		if v == s {
			return i + 1
		}
	}
	return 0
}

// Alert is one rule hit: what the detector publishes and the notifier groups into incidents.
type Alert struct {
	// ID is deterministic (rule and triggering event), so a redelivered event re-publishes the
	// same alert id and JetStream's duplicate window drops it.
	ID       string   `json:"id"`
	RuleID   string   `json:"rule_id"`
	Title    string   `json:"title"`
	Severity Severity `json:"severity"`
	Tags     []string `json:"tags,omitempty"`
	// Org is the home organisation of Account (the detector resolves it from the directory,
	// else from the account's realm), which incidents, the deactivation cap and the adapter
	// choice key on; the triggering event's org only when neither is known.
	Org string `json:"org"`
	// ClaimedOrg is the org the triggering event claimed, set only when it differs from Org.
	ClaimedOrg string    `json:"claimed_org,omitempty"`
	Account    string    `json:"account"`           // the suspect account: incidents are grouped by it
	Subject    string    `json:"subject,omitempty"` // whose data, when the event is an access
	EventID    string    `json:"event_id"`
	EventKind  Kind      `json:"event_kind"`
	EventTime  time.Time `json:"event_time"`
	Detected   time.Time `json:"detected"`
	Summary    string    `json:"summary"`
	// Respond is true when the rule allows this hit to request deactivation of Account.
	Respond bool `json:"respond,omitempty"`
	// Suppressed counts earlier hits of the same suppression key folded into this one.
	Suppressed int64 `json:"suppressed,omitempty"`
}

// AlertID derives the deterministic alert id of a rule hit on an event.
func AlertID(ruleID, eventID string) string {
	h := sha256.Sum256([]byte(ruleID + "\x00" + eventID))
	return "al-" + hex.EncodeToString(h[:12])
}
