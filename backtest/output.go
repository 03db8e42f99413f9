package backtest

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"breachd/output"
)

// In returns the report for output.Write with the table's times in loc (nil: UTC): aligned
// tables for people (Text), the Report in JSON (times in RFC 3339), and in CSV and TSV the long
// form: one row per rule (section "rule") then one per top key (section "key"), under one
// header.
func (r *Report) In(loc *time.Location) any {
	if loc == nil {
		loc = time.UTC
	}
	return located{r, loc}
}

// located is a Report for output.Write; in JSON it is the Report (its MarshalJSON).
type located struct {
	*Report
	loc *time.Location
}

// Totals is the closing line of the table: what was read, how long it took, how fast.
func (r *Report) Totals() string {
	return fmt.Sprintf("%s events in range (%s directory events before it, %s in the warm-up), %s alerts; %s events read in %s: %s events/s",
		group(r.Events), group(r.DirectoryEvents), group(r.WarmupEvents), group(r.Alerts),
		group(r.DirectoryEvents+r.WarmupEvents+r.Events), r.Duration.Round(time.Millisecond), group(int64(r.EventsPerSecond)))
}

func (v located) WriteText(w io.Writer) error {
	r, loc := v.Report, v.loc
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

func (v located) Rows() *output.Rows {
	out := &output.Rows{Columns: []string{"section", "rule", "account", "severity", "alerts", "hits", "suppressed", "folded", "excepted",
		"evaluated", "errors", "lookup_errors", "accounts", "first", "last"}}
	ts := func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	for _, s := range v.Rules {
		out.Rows = append(out.Rows, []any{"rule", s.Rule, "", string(s.Severity), s.Alerts, s.Hits, s.Suppressed, "", s.Excepted,
			s.Evaluated, s.Errors, s.LookupErrors, s.Accounts, ts(s.First), ts(s.Last)})
	}
	for _, k := range v.Top {
		out.Rows = append(out.Rows, []any{"key", k.Rule, k.Account, "", k.Alerts, "", "", k.Folded, "", "", "", "", "", ts(&k.First), ts(&k.Last)})
	}
	return out
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
