package dlq

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/output"
)

// Listing is a page of letters for output.Write: the letters List returned (up to the filter's
// limit) and whether more match.
type Listing struct {
	Letters []Letter
	More    bool
}

// Page lists the letters f selects, at most f.Limit of them, and whether more match.
func Page(ctx context.Context, js jetstream.JetStream, f Filter) (Listing, error) {
	want := f.Limit
	f.Limit++ // one more tells whether there are more
	letters, err := List(ctx, js, f)
	if err != nil || len(letters) <= want {
		return Listing{Letters: letters}, err
	}
	return Listing{Letters: letters[:want], More: true}, nil
}

// MarshalJSON writes the letters as Views.
func (l Listing) MarshalJSON() ([]byte, error) {
	views := make([]View, len(l.Letters))
	for i, x := range l.Letters {
		views[i] = ViewOf(x)
	}
	return json.Marshal(views)
}

// WriteText writes a table of the letters, every field escaped for the terminal and cut.
func (l Listing) WriteText(w io.Writer) error {
	if len(l.Letters) == 0 {
		_, err := fmt.Fprintln(w, "no dead letters match")
		return err
	}
	t := &output.Rows{Columns: []string{"SEQ", "STORED", "SOURCE", "WHERE", "REASON", "DATA"}, Plain: true}
	for _, x := range l.Letters {
		t.Rows = append(t.Rows, []any{x.Seq, x.Time.Local().Format(time.DateTime), safe(x.Source, 24), safe(x.Where, 32),
			safe(x.Reason, 80), output.TerminalSafe(x.Data, 60)})
	}
	if err := output.Write(w, output.Table, t); err != nil || !l.More {
		return err
	}
	_, err := fmt.Fprintf(w, "(first %d shown; more match: narrow the filters, or raise --limit)\n", len(l.Letters))
	return err
}

// View is a letter for people and in JSON: its reason group added, and in JSON the bytes as
// text when they are valid UTF-8, else in base64.
type View struct {
	Seq         uint64    `json:"seq"`
	Time        time.Time `json:"time"`
	Subject     string    `json:"subject"`
	Source      string    `json:"source"`
	Where       string    `json:"where,omitempty"`
	Reason      string    `json:"reason"`
	ReasonGroup string    `json:"reason_group"`
	Data        *string   `json:"data,omitempty"`
	DataBase64  []byte    `json:"data_base64,omitempty"`
}

// ViewOf returns the View of l.
func ViewOf(l Letter) View {
	v := View{Seq: l.Seq, Time: l.Time, Subject: l.Subject, Source: l.Source, Where: l.Where, Reason: l.Reason, ReasonGroup: ReasonKey(l.Reason)}
	if utf8.Valid(l.Data) {
		s := string(l.Data)
		v.Data = &s
	} else {
		v.DataBase64 = l.Data
	}
	return v
}

// WriteText writes the letter's headers and bytes, escaped for the terminal.
func (v View) WriteText(w io.Writer) error {
	data := v.DataBase64
	if v.Data != nil {
		data = []byte(*v.Data)
	}
	_, err := fmt.Fprintf(w, "seq:      %d\nstored:   %s\nsubject:  %s\nsource:   %s\nwhere:    %s\nreason:   %s\ngroup:    %s\nbytes:    %d\n"+
		"data (control characters, invalid UTF-8 and invisible characters escaped; --raw for the exact bytes):\n%s\n",
		v.Seq, v.Time.Format(time.RFC3339Nano), safe(v.Subject, 0), safe(v.Source, 0), safe(v.Where, 0), safe(v.Reason, 0),
		safe(v.ReasonGroup, 0), len(data), output.TerminalSafe(data, 0))
	return err
}

// WriteText writes the counts by source and by reason group.
func (s Summary) WriteText(w io.Writer) error {
	if s.Total == 0 {
		_, err := fmt.Fprintln(w, "no dead letters match")
		return err
	}
	fmt.Fprintf(w, "%d dead %s, stored %s to %s\n", s.Total, plural(s.Total, "letter", "letters"),
		s.First.Local().Format(time.DateTime), s.Last.Local().Format(time.DateTime))
	for _, part := range []struct {
		title  string
		counts []Count
	}{{"SOURCE", s.BySource}, {"REASON", s.ByReason}} {
		fmt.Fprintf(w, "\n%7s  %s\n", "COUNT", part.title)
		for _, c := range part.counts {
			if _, err := fmt.Fprintf(w, "%7d  %s\n", c.Count, safe(c.Key, 100)); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReplayReport is what a replay did, for output.Write.
type ReplayReport struct {
	DryRun   bool      `json:"dry_run"`
	Outcomes []Outcome `json:"outcomes"`
	Totals   Totals    `json:"totals"`
	More     bool      `json:"more"` // more letters matched than were replayed
}

// WriteText writes one line per letter and the totals.
func (r ReplayReport) WriteText(w io.Writer) error {
	for _, o := range r.Outcomes {
		line := fmt.Sprintf("%d\t%s\t%s\t%s", o.Seq, safe(o.Source, 24), safe(o.Where, 32), o.Status)
		switch {
		case o.Deleted:
			line += " (deleted)"
		case o.Duplicate:
			line += " (already on EVENTS)"
		case o.NewCopy:
			line += " (stored again as a new letter: older than the duplicate window)"
		}
		if o.Reason != "" {
			line += ": " + safe(o.Reason, 160)
		}
		fmt.Fprintln(w, line)
	}
	prefix, t := "replayed", r.Totals
	if r.DryRun {
		prefix = "dry run, nothing published:"
	}
	_, err := fmt.Fprintf(w, "%s %d %s: %d accepted, %d rejected again, %d skipped, %d failed, %d deleted\n", prefix, len(r.Outcomes),
		plural(len(r.Outcomes), "letter", "letters"), t.Accepted, t.Rejected, t.Skipped, t.Failed, t.Deleted)
	if err == nil && r.More {
		_, err = fmt.Fprintln(w, "more letters match: run it again (with --delete the replayed ones are gone), or raise --limit")
	}
	return err
}

// Err is the replay's failure when a letter was rejected again or failed (would be, on a dry
// run); nil when every letter went through.
func (r ReplayReport) Err() error {
	bad := r.Totals.Rejected + r.Totals.Failed
	if bad == 0 {
		return nil
	}
	verb := "were"
	if r.DryRun {
		verb = "would be"
	}
	return fmt.Errorf("%d of %d %s %s rejected again or failed", bad, len(r.Outcomes), plural(len(r.Outcomes), "letter", "letters"), verb)
}

func safe(s string, max int) string { return output.TerminalSafe([]byte(s), max) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
