// Package retry is breachd's one vocabulary for trying again: exponential backoff with jitter
// and a cap (Backoff, Sleep, Forever), the classification of a failure (Permanent, Transient
// with a Retry-After, HTTP status codes) and the compare-and-set loop on a NATS KV key (CAS,
// ErrLost).
//
// Every stage that retries uses it, so "transient" means the same thing to the notification
// channels and to the deactivation adapters, and a Retry-After is capped the same way.
package retry
