package channel

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// fact is one labelled line of an incident, shared by the chat and e-mail renderings.
type fact struct{ Name, Value string }

// maxRulesListed bounds the rule list in a notification.
const maxRulesListed = 10

// facts lists what the SOC needs first: the incident's identity, severity, state, rules,
// times and reporting deadline. Without an incident it lists severity and org only.
func facts(m *Message) []fact {
	inc := m.Incident
	if inc == nil {
		return []fact{{"Severity", string(m.Severity)}, {"Org", m.Org}}
	}
	fs := []fact{
		{"Incident", inc.ID},
		{"Severity", string(inc.Severity)},
		{"State", inc.State},
		{"Org", inc.Org},
		{"Account", inc.Account},
		{"Rules", rulesLine(inc.Rules)},
		{"Alerts", fmt.Sprint(inc.AlertCount)},
		{"First seen", stamp(inc.FirstSeen)},
		{"Last seen", stamp(inc.LastSeen)},
		{"Deadline", stamp(inc.Deadline) + " (report to Datatilsynet, GDPR Art. 33)"},
	}
	if inc.RespondRequested {
		fs = append(fs, fact{"Deactivation", "requested"})
	}
	return fs
}

// rulesLine lists rules by alert count, most first, e.g. "teacher-sees-own-child (3), x (1)".
func rulesLine(rules map[string]int64) string {
	ids := make([]string, 0, len(rules))
	for id := range rules {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if rules[ids[i]] != rules[ids[j]] {
			return rules[ids[i]] > rules[ids[j]]
		}
		return ids[i] < ids[j]
	})
	var b strings.Builder
	for i, id := range ids {
		if i == maxRulesListed {
			fmt.Fprintf(&b, ", … %d more", len(ids)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%d)", id, rules[id])
	}
	return b.String()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// clip shortens s to at most n bytes on a rune boundary, marking the cut with "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// heading is the one-line summary used as chat title and e-mail subject:
// "[HIGH] INC-20261105-1a2b3c4d opened: <title>".
func heading(m *Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] ", strings.ToUpper(string(m.Severity)))
	if m.Incident != nil {
		b.WriteString(m.Incident.ID + " ")
	}
	b.WriteString(m.Kind)
	if m.Title != "" {
		b.WriteString(": " + m.Title)
	}
	return oneLine(b.String())
}

// oneLine replaces control characters (CR, LF, tabs …) with spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
