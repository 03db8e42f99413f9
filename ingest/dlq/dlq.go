package dlq

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
)

// DefaultLimit is the number of letters List returns when Filter.Limit is 0.
const DefaultLimit = 1000

// Letter is one dead letter as stored on DEADLETTER.
type Letter struct {
	Seq     uint64    `json:"seq"`     // stream sequence number: the letter's handle
	Time    time.Time `json:"time"`    // when JetStream stored it
	Subject string    `json:"subject"` // breachd.dlq.<source token>
	Source  string    `json:"source"`  // the source name the record was submitted under
	Reason  string    `json:"reason"`  // why it was rejected
	Where   string    `json:"where,omitempty"`
	Data    []byte    `json:"data"` // the original bytes
}

// Filter selects letters. The zero Filter selects the first DefaultLimit letters.
type Filter struct {
	Source string // exact source name; empty: every source
	// Since and Until bound the stored time (inclusive); zero: unbounded.
	Since, Until time.Time
	// ReasonContains keeps letters whose reason contains it, case-insensitively.
	ReasonContains string
	// Limit caps the number of letters returned; 0 means DefaultLimit, negative means none
	// (Stats uses that; List callers should keep a limit, every letter holds its bytes).
	Limit int
}

// ErrNotFound is returned by Get for a sequence that holds no dead letter.
var ErrNotFound = errors.New("no such dead letter")

// dlqStream opens DEADLETTER with a message that says what is wrong when it is missing.
func dlqStream(ctx context.Context, js jetstream.JetStream) (jetstream.Stream, error) {
	st, err := js.Stream(ctx, bus.StreamDLQ)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("stream %s does not exist: nothing was ever ingested through this NATS (or it is another deployment)", bus.StreamDLQ)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", bus.StreamDLQ, err)
	}
	return st, nil
}

// List returns the letters f selects, oldest first. It reads with message gets only: no
// consumer, no ack, no change to the stream. It examines at most the messages stored when it
// starts (later ones are left for the next call) and stops at f.Limit letters.
func List(ctx context.Context, js jetstream.JetStream, f Filter) ([]Letter, error) {
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	var out []Letter
	err := scan(ctx, js, f, func(l Letter) bool {
		out = append(out, l)
		return limit < 0 || len(out) < limit
	})
	return out, err
}

// Get returns the dead letter with stream sequence seq. It wraps ErrNotFound when there is none
// (never stored, deleted, or expired by the stream's MaxAge).
func Get(ctx context.Context, js jetstream.JetStream, seq uint64) (Letter, error) {
	st, err := dlqStream(ctx, js)
	if err != nil {
		return Letter{}, err
	}
	m, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Letter{}, fmt.Errorf("dead letter %d: %w (deleted, expired, or never stored)", seq, ErrNotFound)
	}
	if err != nil {
		return Letter{}, fmt.Errorf("get dead letter %d: %w", seq, err)
	}
	return fromMsg(m), nil
}

// scan calls fn with every letter f selects, in sequence order, until fn returns false.
// f.Limit is not applied here.
func scan(ctx context.Context, js jetstream.JetStream, f Filter, fn func(Letter) bool) error {
	st, err := dlqStream(ctx, js)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s info: %w", bus.StreamDLQ, err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	subject := bus.SubjectDLQ + ".>"
	if f.Source != "" {
		subject = bus.DLQSubject(f.Source)
	}
	last := info.State.LastSeq
	seq := info.State.FirstSeq
	if !f.Since.IsZero() {
		if seq, err = firstAtOrAfter(ctx, st, subject, seq, last, f.Since); err != nil {
			return err
		}
	}
	reason := strings.ToLower(f.ReasonContains)
	for seq <= last {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil // nothing more on the subject
		}
		if err != nil {
			return fmt.Errorf("read %s at sequence %d: %w", bus.StreamDLQ, seq, err)
		}
		if m.Sequence > last {
			return nil
		}
		seq = m.Sequence + 1
		l := fromMsg(m)
		if !f.Until.IsZero() && l.Time.After(f.Until) {
			return nil
		}
		if f.Source != "" && l.Source != f.Source { // another source with the same token
			continue
		}
		if reason != "" && !strings.Contains(strings.ToLower(l.Reason), reason) {
			continue
		}
		if !fn(l) {
			return nil
		}
	}
	return nil
}

// firstAtOrAfter returns the lowest sequence in [lo, hi] whose message on subject was stored at
// or after t (hi+1 when none), by binary search: about log2(hi-lo) message gets.
func firstAtOrAfter(ctx context.Context, st jetstream.Stream, subject string, lo, hi uint64, t time.Time) (uint64, error) {
	end := hi + 1
	for lo < end {
		mid := lo + (end-lo)/2
		m, err := st.GetMsg(ctx, mid, jetstream.WithGetMsgSubject(subject))
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			end = mid
		case err != nil:
			return 0, fmt.Errorf("search %s by time: %w", bus.StreamDLQ, err)
		case m.Sequence > hi || !m.Time.Before(t):
			end = mid
		default:
			lo = m.Sequence + 1
		}
	}
	return lo, nil
}

func fromMsg(m *jetstream.RawStreamMsg) Letter {
	l := Letter{Seq: m.Sequence, Time: m.Time.UTC(), Subject: m.Subject, Data: m.Data}
	if m.Header != nil {
		l.Source = m.Header.Get(bus.HeaderSource)
		l.Reason = m.Header.Get(bus.HeaderReason)
		l.Where = m.Header.Get(bus.HeaderWhere)
	}
	if l.Source == "" { // not published by the pipeline: name it by its subject
		l.Source = strings.TrimPrefix(m.Subject, bus.SubjectDLQ+".")
	}
	return l
}

// Count is one group of a Summary.
type Count struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
}

// Summary counts dead letters.
type Summary struct {
	Total    int       `json:"total"`
	First    time.Time `json:"first,omitzero"` // stored time of the oldest counted letter
	Last     time.Time `json:"last,omitzero"`
	BySource []Count   `json:"by_source"` // most first, then by key
	ByReason []Count   `json:"by_reason"` // grouped by ReasonKey; most first, then by key
}

// Stats counts the letters f selects (f.Limit caps how many are counted; 0 counts them all)
// by source and by ReasonKey. It keeps no letter bytes; its memory grows with the number of
// distinct sources and reason groups only.
func Stats(ctx context.Context, js jetstream.JetStream, f Filter) (Summary, error) {
	var s Summary
	bySource, byReason := map[string]int{}, map[string]int{}
	limit := f.Limit
	err := scan(ctx, js, f, func(l Letter) bool {
		if s.Total == 0 {
			s.First = l.Time
		}
		s.Last = l.Time
		s.Total++
		bySource[l.Source]++
		byReason[ReasonKey(l.Reason)]++
		return limit <= 0 || s.Total < limit
	})
	s.BySource, s.ByReason = sorted(bySource), sorted(byReason)
	return s, err
}

func sorted(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		out = append(out, Count{k, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// maxKeyLen caps a reason group's length, in bytes.
const maxKeyLen = 96

// ReasonKey is the group a rejection reason is counted under in a Summary. Reasons have the
// shape "invalid event: FIELD: WHAT[: DETAIL]" or "invalid event: WHAT[: DETAIL]" (package
// event's InvalidError); the key drops the "invalid event: " prefix, keeps the field and the
// first part of what is wrong, cuts at the next ':' (where details such as a JSON decoder's
// message start), and replaces every double-quoted value with "…", so that reasons that
// differ only in the offending value ("unknown kind \"x\"" and "unknown kind \"y\"") count as
// one group. Examples:
//
//	invalid event: not valid JSON: invalid character 'n' ...  → not valid JSON
//	invalid event: kind: unknown kind "x" (want auth, ...)    → kind: unknown kind "…" (want auth, ...)
//	invalid event: time: not an RFC 3339 time: "yesterday"     → time: not an RFC 3339 time
func ReasonKey(reason string) string {
	r := strings.TrimPrefix(strings.TrimSpace(reason), "invalid event: ")
	r = maskQuoted(r)
	// Keep "FIELD: WHAT" when the first part looks like a field name, else "WHAT".
	if i := strings.Index(r, ": "); i >= 0 {
		head, rest := r[:i], r[i+2:]
		if isFieldName(head) {
			if j := strings.IndexByte(rest, ':'); j >= 0 {
				rest = rest[:j]
			}
			r = head + ": " + strings.TrimSpace(rest)
		} else {
			r = head
		}
	}
	if len(r) > maxKeyLen {
		cut := maxKeyLen
		for cut > 0 && r[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		r = r[:cut] + "…"
	}
	if r == "" {
		return "(no reason)"
	}
	return r
}

// isFieldName reports whether s looks like a field path (user.name, records[0].id, @timestamp).
func isFieldName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if c == ' ' || c == '"' {
			return false
		}
	}
	return true
}

// maskQuoted replaces the contents of every double-quoted Go-style string in s with "…".
func maskQuoted(s string) string {
	if !strings.Contains(s, `"`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '"' {
			b.WriteByte(s[i])
			continue
		}
		j := i + 1
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(s) { // unterminated: keep the rest as it is
			b.WriteString(s[i:])
			break
		}
		b.WriteString(`"…"`)
		i = j
	}
	return b.String()
}
