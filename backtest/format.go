package backtest

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Output formats of Report.Write.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatCSV   = "csv"
)

// Formats lists the formats Write accepts.
var Formats = []string{FormatTable, FormatJSON, FormatCSV}

// Write renders the report: aligned tables for people (times in loc; nil: UTC), JSON (the
// Report, times in RFC 3339), or CSV in long form: one row per rule (section "rule") then one
// per top key (section "key"), under one header.
func (r *Report) Write(w io.Writer, format string, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	switch format {
	case FormatTable, "":
		return r.writeTable(w, loc)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case FormatCSV:
		return r.writeCSV(w)
	}
	return fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

// Totals is the closing line of the table: what was read, how long it took, how fast.
func (r *Report) Totals() string {
	return fmt.Sprintf("%s events in range (%s directory events before it, %s in the warm-up), %s alerts; %s events read in %s: %s events/s",
		group(r.Events), group(r.DirectoryEvents), group(r.WarmupEvents), group(r.Alerts),
		group(r.DirectoryEvents+r.WarmupEvents+r.Events), r.Duration.Round(time.Millisecond), group(int64(r.EventsPerSecond)))
}

func (r *Report) writeTable(w io.Writer, loc *time.Location) error {
	const layout = "2006-01-02 15:04:05"
	fmt.Fprintf(w, "Backtest [%s, %s) %s, warm-up %s\n\n", r.From.In(loc).Format(layout), r.To.In(loc).Format(layout), loc, r.Warmup)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tSEVERITY\tALERTS\tSUPPRESSED\tEXCEPTED\tACCOUNTS\tEVALUATED\tERRORS\tFIRST\tLAST")
	for _, s := range r.Rules {
		first, last := "-", "-"
		if s.First != nil {
			first, last = s.First.In(loc).Format(layout), s.Last.In(loc).Format(layout)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", s.Rule, s.Severity, s.Alerts, s.Suppressed, s.Excepted,
			s.Accounts, s.Evaluated, s.Errors, first, last)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Top) > 0 {
		fmt.Fprintf(w, "\nTop %d (rule, account) by alerts (FOLDED: suppressed hits carried by them):\n", len(r.Top))
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "RULE\tACCOUNT\tALERTS\tFOLDED\tFIRST\tLAST")
		for _, k := range r.Top {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", k.Rule, k.Account, k.Alerts, k.Folded, k.First.In(loc).Format(layout), k.Last.In(loc).Format(layout))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	var examples []string
	for _, s := range r.Rules {
		for _, e := range s.Examples {
			examples = append(examples, fmt.Sprintf("  %s  %s  %s", s.Rule, e.EventTime.In(loc).Format(layout), e.Summary))
		}
	}
	if len(examples) > 0 {
		fmt.Fprintf(w, "\nFirst alerts per rule (at most %d):\n%s\n", examplesPerRule, strings.Join(examples, "\n"))
	}
	if r.KeysTruncated {
		fmt.Fprintln(w, "\nNote: too many (rule, account) pairs to tally all; accounts and top keys are lower bounds.")
	}
	var lookupErrs uint64
	for _, s := range r.Rules {
		lookupErrs += s.LookupErrors
	}
	if lookupErrs > 0 {
		fmt.Fprintf(w, "\nNote: %d history lookups of rules could not be answered and gave their safe default (see the log).\n", lookupErrs)
	}
	if r.DirectoryErrors > 0 {
		fmt.Fprintf(w, "\nNote: %d stored directory events could not be applied (see the log).\n", r.DirectoryErrors)
	}
	_, err := fmt.Fprintf(w, "\n%s\n", r.Totals())
	return err
}

func (r *Report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"section", "rule", "account", "severity", "alerts", "hits", "suppressed", "folded", "excepted", "evaluated", "errors", "lookup_errors", "accounts", "first", "last"})
	ts := func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	for _, s := range r.Rules {
		_ = cw.Write([]string{"rule", s.Rule, "", string(s.Severity), u(s.Alerts), u(s.Hits), u(s.Suppressed), "", u(s.Excepted),
			u(s.Evaluated), u(s.Errors), u(s.LookupErrors), strconv.Itoa(s.Accounts), ts(s.First), ts(s.Last)})
	}
	for _, k := range r.Top {
		_ = cw.Write([]string{"key", k.Rule, k.Account, "", strconv.FormatInt(k.Alerts, 10), "", "", strconv.FormatInt(k.Folded, 10),
			"", "", "", "", "", ts(&k.First), ts(&k.Last)})
	}
	cw.Flush()
	return cw.Error()
}

// group writes n with commas between groups of three digits: 1,234,567.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
