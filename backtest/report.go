package backtest

import (
	"cmp"
	"encoding/json"
	"slices"
	"time"

	"breachd/event"
	"breachd/rules"
)

// Report is the outcome of a run.
type Report struct {
	From   time.Time     `json:"from"`
	To     time.Time     `json:"to"`
	Warmup time.Duration `json:"-"` // in JSON: warmup, a Go duration string
	// Rules summarises every reported rule, in set order, also those without alerts.
	Rules []RuleSummary `json:"rules"`
	// Top lists the (rule, account) pairs with the most alerts, most first (Options.Top of them).
	Top []KeySummary `json:"top"`
	// KeysTruncated is set when more than Options.MaxKeys (rule, account) pairs alerted: the
	// later ones are missing from Top and from RuleSummary.Accounts (a lower bound then).
	KeysTruncated bool `json:"keys_truncated,omitempty"`

	DirectoryEvents int64 `json:"directory_events"` // applied before From − Warmup
	WarmupEvents    int64 `json:"warmup_events"`    // evaluated in [From − Warmup, From), alerts discarded
	Events          int64 `json:"events"`           // evaluated in [From, To)
	DirectoryErrors int64 `json:"directory_errors,omitempty"`
	Alerts          int64 `json:"alerts"` // of the reported rules
	// Duration of the whole run; EventsPerSecond counts the events of all three phases.
	Duration        time.Duration `json:"-"` // in JSON: duration_seconds
	EventsPerSecond float64       `json:"events_per_second"`
}

// MarshalJSON writes the durations readably: warmup as a Go duration ("10m0s") and
// duration_seconds as a number.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report // without the method
	return json.Marshal(struct {
		*plain
		Warmup   string  `json:"warmup"`
		Duration float64 `json:"duration_seconds"`
	}{(*plain)(r), r.Warmup.String(), r.Duration.Seconds()})
}

// RuleSummary is what one rule did in [From, To).
type RuleSummary struct {
	Rule     string         `json:"rule"`
	Title    string         `json:"title"`
	Severity event.Severity `json:"severity"`
	Tags     []string       `json:"tags,omitempty"`
	File     string         `json:"file"`
	// Counters of the engine (rules.RuleStats) over the range.
	Evaluated  uint64 `json:"evaluated"`  // events of the rule's kinds
	Hits       uint64 `json:"hits"`       // condition true
	Excepted   uint64 `json:"excepted"`   // hits dropped by an exception
	Suppressed uint64 `json:"suppressed"` // hits folded into an earlier alert
	Alerts     uint64 `json:"alerts"`     // hits after exceptions and suppression
	Errors     uint64 `json:"errors"`     // expression failures at run time
	// Lookups are history lookup calls; LookupErrors those that gave the safe default.
	Lookups      uint64 `json:"lookups,omitempty"`
	LookupErrors uint64 `json:"lookup_errors,omitempty"`
	// Accounts is the number of distinct accounts with an alert.
	Accounts int `json:"accounts"`
	// First and Last are the event times of the first and last alert.
	First    *time.Time `json:"first,omitempty"`
	Last     *time.Time `json:"last,omitempty"`
	Examples []Example  `json:"examples,omitempty"` // the first few alerts
}

// Example is one alert, for a report.
type Example struct {
	EventID   string    `json:"event_id"`
	EventTime time.Time `json:"event_time"`
	Account   string    `json:"account"`
	Summary   string    `json:"summary"`
}

// KeySummary is what one rule raised for one account: its alerts, and the hits suppression
// folded into them (event.Alert.Suppressed). Hits suppressed after the account's last alert
// are reported with no alert, so they are only in the rule's Suppressed count.
type KeySummary struct {
	Rule    string    `json:"rule"`
	Account string    `json:"account"`
	Alerts  int64     `json:"alerts"`
	Folded  int64     `json:"folded"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
}

// examplesPerRule is how many alerts per rule a report shows.
const examplesPerRule = 3

// tally counts alerts per rule and account.
type tally struct {
	only      map[string]bool // nil: every rule
	rules     map[string]*ruleTally
	keys      int
	maxKeys   int
	truncated bool
}

type ruleTally struct {
	accounts    map[string]*KeySummary
	alerts      int64
	first, last time.Time
	examples    []Example
}

func newTally(only []string, maxKeys int) *tally {
	t := &tally{rules: map[string]*ruleTally{}, maxKeys: maxKeys}
	if len(only) > 0 {
		t.only = map[string]bool{}
		for _, id := range only {
			t.only[id] = true
		}
	}
	return t
}

func (t *tally) add(a *event.Alert) {
	if t.only != nil && !t.only[a.RuleID] {
		return
	}
	r := t.rules[a.RuleID]
	if r == nil {
		r = &ruleTally{accounts: map[string]*KeySummary{}}
		t.rules[a.RuleID] = r
	}
	r.alerts++
	if r.first.IsZero() || a.EventTime.Before(r.first) {
		r.first = a.EventTime
	}
	if a.EventTime.After(r.last) {
		r.last = a.EventTime
	}
	if len(r.examples) < examplesPerRule {
		r.examples = append(r.examples, Example{EventID: a.EventID, EventTime: a.EventTime, Account: a.Account, Summary: a.Summary})
	}
	k := r.accounts[a.Account]
	if k == nil {
		if t.keys >= t.maxKeys {
			t.truncated = true
			return
		}
		t.keys++
		k = &KeySummary{Rule: a.RuleID, Account: a.Account, First: a.EventTime}
		r.accounts[a.Account] = k
	}
	k.Alerts++
	k.Folded += a.Suppressed
	if a.EventTime.After(k.Last) {
		k.Last = a.EventTime
	}
}

// fill completes rep from the tally and the engine's counters before and after the range.
func (t *tally) fill(rep *Report, set *rules.Set, before, after []rules.RuleStats, top int) {
	base := map[string]rules.RuleStats{}
	for _, s := range before {
		base[s.Rule] = s
	}
	stats := map[string]rules.RuleStats{}
	for _, s := range after {
		stats[s.Rule] = s
	}
	var keys []KeySummary
	for _, r := range set.Rules() {
		if t.only != nil && !t.only[r.ID] {
			continue
		}
		s, b := stats[r.ID], base[r.ID]
		sum := RuleSummary{Rule: r.ID, Title: r.Title, Severity: r.Severity, Tags: r.Tags, File: r.File,
			Evaluated: s.Evaluated - b.Evaluated, Hits: s.Hits - b.Hits, Excepted: s.Excepted - b.Excepted,
			Suppressed: s.Suppressed - b.Suppressed, Alerts: s.Alerts - b.Alerts, Errors: s.Errors - b.Errors,
			Lookups: s.Lookups - b.Lookups, LookupErrors: s.LookupErrors - b.LookupErrors}
		if rt := t.rules[r.ID]; rt != nil {
			sum.Accounts = len(rt.accounts)
			first, last := rt.first, rt.last
			sum.First, sum.Last, sum.Examples = &first, &last, rt.examples
			for _, k := range rt.accounts {
				keys = append(keys, *k)
			}
		}
		rep.Alerts += int64(sum.Alerts)
		rep.Rules = append(rep.Rules, sum)
	}
	slices.SortFunc(keys, func(a, b KeySummary) int {
		return cmp.Or(cmp.Compare(b.Alerts, a.Alerts), cmp.Compare(b.Folded, a.Folded), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Account, b.Account))
	})
	rep.Top = keys[:min(top, len(keys))]
	if rep.Top == nil {
		rep.Top = []KeySummary{}
	}
	rep.KeysTruncated = t.truncated
}
