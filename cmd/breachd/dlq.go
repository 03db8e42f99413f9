package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"breachd/bus"
	"breachd/deploy"
	"breachd/ingest"
	"breachd/ingest/dlq"
	"breachd/ingest/format"
	"breachd/output"
)

// dlqOptions are the flags of `breachd dlq`, shared by its commands.
type dlqOptions struct {
	source, since, until, reason string
	limit                        int
	raw, all, deleteOK, dryRun   bool
	formatIn, mapping            string
}

func dlqCommand() *cobra.Command {
	var o dlqOptions
	c := &cobra.Command{
		Use:   "dlq <command> [flags] [SEQ ...]",
		Short: "list, inspect and replay dead letters (rejected input)",
		Long: `Every input record the pipeline rejects (not JSON, unknown kind, missing field, bad time, a line
the configured log format cannot read) is kept on the DEADLETTER stream with its source, the
reason, where it was read ("file.jsonl:42") and the original bytes. These commands read and
repair it:

  list     the dead letters, oldest first (filters: --source --since --until --reason --limit)
  show SEQ one letter: its headers and the original bytes, escaped for the terminal (--raw: as is)
  stats    counts by source and by reason group (the reason with quoted values masked)
  replay   submit letters again through the ingest pipeline, under their original source name:
           SEQ ... or --all (with the list filters). --format-in or --mapping reads them with
           another parser: a line rejected because the wrong format was configured is replayed
           with the right one. --delete removes the letters that are now accepted (only after
           their event is stored); --dry-run only says what would happen.

Reading never consumes, acknowledges or changes anything. A letter rejected again is not stored
twice (JetStream drops the copy within the stream's duplicate window, 24 h by default).

Where NATS is: --nats; else the embedded NATS of a 'breachd run' with the same --data (found
through its endpoint file); else the embedded NATS data under --data, opened here (only when
no breachd process holds it). On the embedded NATS, replay logs in as the user that may publish
events and every other command as the operator, who may not (deploy/README.md, "NATS in
production"); with --nats, give a login in the URL or with --nats-creds.

Exit status: 0; 1 on an error, or when replay left a letter rejected again or failed (with
--dry-run: would leave); 2 on a usage error.`,
		Example: `  breachd dlq list --since 24h
  breachd dlq list --source file --reason "unknown kind" --format json
  breachd dlq show 42
  breachd dlq show --raw 42 > line.txt
  breachd dlq stats --since 2026-11-01
  breachd dlq replay --all --source file --format-in simplesamlphp --dry-run
  breachd dlq replay --all --source file --format-in simplesamlphp --delete
  breachd dlq replay --mapping lms.yaml 17 18 19`,
	}
	// sub is one dlq command: prepare checks its arguments and returns what it does, which
	// runs logged in as the operator (a replay that publishes: as replay).
	type do = func(context.Context, jetstream.JetStream) error
	sub := func(use, short string, filters bool, prepare func(f dlq.Filter, pos []string) (do, error)) *cobra.Command {
		s := &cobra.Command{Use: use, Short: short}
		dataFlags(s.Flags())
		natsFlags(s.Flags())
		withOutput(s, output.Documents)
		if filters {
			fs := s.Flags()
			fs.StringVar(&o.source, "source", "", "only letters from this source name (file, stdin, http, kafka, ...)")
			fs.StringVar(&o.since, "since", "", "only letters stored at or after: a duration ago (24h, 7d) or a time (2026-11-02, RFC 3339)")
			fs.StringVar(&o.until, "until", "", "only letters stored at or before: as --since")
			fs.StringVar(&o.reason, "reason", "", "only letters whose reason contains this text (any case)")
			fs.IntVar(&o.limit, "limit", 100, "list, replay --all: at most this many letters (stats counts all)")
		}
		s.RunE = func(c *cobra.Command, pos []string) error {
			var filter dlq.Filter
			if filters {
				var err error
				if filter, err = o.filter(time.Now()); err != nil {
					return err
				}
			}
			run, err := prepare(filter, pos)
			if err != nil {
				return err
			}
			role := deploy.NATSOperator
			if c.Name() == "replay" && !o.dryRun {
				role = deploy.NATSReplay
			}
			a, err := attach(c.Context(), role, false)
			if err != nil {
				return err
			}
			defer a.Close()
			return run(c.Context(), a.JS)
		}
		return s
	}
	list := sub("list [flags]", "the dead letters, oldest first", true, func(f dlq.Filter, pos []string) (do, error) {
		if len(pos) > 0 {
			return nil, usagef("dlq list takes no arguments, got %q (filters are flags: --source, --reason, ...)", pos[0])
		}
		return func(ctx context.Context, js jetstream.JetStream) error { return o.list(ctx, js, f) }, nil
	})
	stats := sub("stats [flags]", "counts by source and by reason group", true, func(f dlq.Filter, pos []string) (do, error) {
		if len(pos) > 0 {
			return nil, usagef("dlq stats takes no arguments, got %q", pos[0])
		}
		f.Limit = -1
		return func(ctx context.Context, js jetstream.JetStream) error { return o.stats(ctx, js, f) }, nil
	})
	show := sub("show [--raw] SEQ", "one letter: its headers and the original bytes", false, func(_ dlq.Filter, pos []string) (do, error) {
		if len(pos) != 1 {
			return nil, usagef("usage: breachd dlq show [--raw] SEQ")
		}
		seq, err := parseSeq(pos[0])
		return func(ctx context.Context, js jetstream.JetStream) error { return o.show(ctx, js, seq) }, err
	})
	show.Flags().BoolVar(&o.raw, "raw", false, "write the original bytes exactly as stored, nothing else")
	replay := sub("replay [flags] SEQ ... | --all", "submit letters again through the ingest pipeline", true, o.replayer)
	fs := replay.Flags()
	fs.BoolVar(&o.all, "all", false, "every letter the filters select (up to --limit)")
	fs.StringVar(&o.formatIn, "format-in", "", "read the letters as this format: "+strings.Join(format.Names(), ", ")+" (default: canonical JSON as 'breachd run' reads it)")
	fs.StringVar(&o.mapping, "mapping", "", "read the letters with this YAML mapping file")
	fs.BoolVar(&o.deleteOK, "delete", false, "remove letters from DEADLETTER once they are accepted")
	fs.BoolVar(&o.dryRun, "dry-run", false, "only check each letter with the parser; publish and delete nothing")
	return group(c, "usage: breachd dlq list|show|stats|replay [flags] (see breachd dlq --help)",
		"unknown dlq verb %q (want list, show, stats or replay)", list, show, stats, replay)
}

func (o *dlqOptions) filter(now time.Time) (dlq.Filter, error) {
	f := dlq.Filter{Source: o.source, ReasonContains: o.reason, Limit: o.limit}
	if o.limit <= 0 {
		return f, usagef("--limit: want a positive number, got %d", o.limit)
	}
	var err error
	if f.Since, err = parseSince("--since", o.since, now); err != nil {
		return f, err
	}
	if f.Until, err = parseSince("--until", o.until, now); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return f, usagef("--until %s is before --since %s", o.until, o.since)
	}
	return f, nil
}

// parseSince reads "24h", "7d" (that long ago) or a time as parseTime accepts it.
func parseSince(name, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil {
		return now.Add(-d), nil
	}
	if n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(s, "-"), "d")); err == nil && strings.HasSuffix(s, "d") {
		return now.AddDate(0, 0, -n), nil
	}
	t, err := parseTime(s, time.Local, now)
	if err != nil {
		return time.Time{}, usagef("%s: %v, or a duration ago such as 24h or 7d", name, err)
	}
	return t, nil
}

func parseSeq(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, usagef("%q is not a dead-letter sequence number (the SEQ column of breachd dlq list)", s)
	}
	return n, nil
}

func (o *dlqOptions) list(ctx context.Context, js jetstream.JetStream, f dlq.Filter) error {
	want := f.Limit
	f.Limit++ // one more tells whether there are more
	letters, err := dlq.List(ctx, js, f)
	if err != nil {
		return err
	}
	more := len(letters) > want
	if more {
		letters = letters[:want]
	}
	if outFormat == output.JSON {
		views := make([]letterView, len(letters))
		for i, l := range letters {
			views[i] = viewOf(l)
		}
		return output.Write(os.Stdout, output.JSON, views)
	}
	if len(letters) == 0 {
		fmt.Println("no dead letters match")
		return nil
	}
	t := &output.Rows{Columns: []string{"SEQ", "STORED", "SOURCE", "WHERE", "REASON", "DATA"}, Plain: true}
	for _, l := range letters {
		t.Rows = append(t.Rows, []any{l.Seq, l.Time.Local().Format(time.DateTime), safe(l.Source, 24), safe(l.Where, 32), safe(l.Reason, 80),
			output.TerminalSafe(l.Data, 60)})
	}
	if err := output.Write(os.Stdout, output.Table, t); err != nil {
		return err
	}
	if more {
		fmt.Printf("(first %d shown; more match: narrow the filters, or raise --limit)\n", want)
	}
	return nil
}

func (o *dlqOptions) stats(ctx context.Context, js jetstream.JetStream, f dlq.Filter) error {
	s, err := dlq.Stats(ctx, js, f)
	if err != nil {
		return err
	}
	if outFormat == output.JSON {
		return output.Write(os.Stdout, output.JSON, s)
	}
	if s.Total == 0 {
		fmt.Println("no dead letters match")
		return nil
	}
	fmt.Printf("%d dead %s, stored %s to %s\n", s.Total, plural(s.Total, "letter", "letters"),
		s.First.Local().Format(time.DateTime), s.Last.Local().Format(time.DateTime))
	for _, part := range []struct {
		title  string
		counts []dlq.Count
	}{{"SOURCE", s.BySource}, {"REASON", s.ByReason}} {
		fmt.Printf("\n%7s  %s\n", "COUNT", part.title)
		for _, c := range part.counts {
			fmt.Printf("%7d  %s\n", c.Count, safe(c.Key, 100))
		}
	}
	return nil
}

func (o *dlqOptions) show(ctx context.Context, js jetstream.JetStream, seq uint64) error {
	l, err := dlq.Get(ctx, js, seq)
	if err != nil {
		return err
	}
	switch {
	case o.raw:
		_, err := os.Stdout.Write(l.Data)
		return err
	case outFormat == output.JSON:
		return output.Write(os.Stdout, output.JSON, viewOf(l))
	}
	w := os.Stdout
	fmt.Fprintf(w, "seq:      %d\nstored:   %s\nsubject:  %s\nsource:   %s\nwhere:    %s\nreason:   %s\ngroup:    %s\nbytes:    %d\n",
		l.Seq, l.Time.Format(time.RFC3339Nano), safe(l.Subject, 0), safe(l.Source, 0),
		safe(l.Where, 0), safe(l.Reason, 0), safe(dlq.ReasonKey(l.Reason), 0), len(l.Data))
	fmt.Fprintln(w, "data (control characters, invalid UTF-8 and invisible characters escaped; --raw for the exact bytes):")
	fmt.Fprintln(w, output.TerminalSafe(l.Data, 0))
	return nil
}

// letterView is a letter as `--format json` prints it: the bytes as text when they are valid
// UTF-8, else in base64.
type letterView struct {
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

func viewOf(l dlq.Letter) letterView {
	v := letterView{Seq: l.Seq, Time: l.Time, Subject: l.Subject, Source: l.Source, Where: l.Where, Reason: l.Reason, ReasonGroup: dlq.ReasonKey(l.Reason)}
	if utf8.Valid(l.Data) {
		s := string(l.Data)
		v.Data = &s
	} else {
		v.DataBase64 = l.Data
	}
	return v
}

// safe is output.TerminalSafe of a string.
func safe(s string, max int) string { return output.TerminalSafe([]byte(s), max) }

// replayer checks the replay arguments and returns the replay to run once connected.
func (o *dlqOptions) replayer(f dlq.Filter, pos []string) (func(context.Context, jetstream.JetStream) error, error) {
	seqs := make([]uint64, 0, len(pos))
	for _, p := range pos {
		seq, err := parseSeq(p)
		if err != nil {
			return nil, err
		}
		seqs = append(seqs, seq)
	}
	switch {
	case o.all && len(seqs) > 0:
		return nil, usagef("give SEQ numbers or --all, not both")
	case !o.all && len(seqs) == 0:
		return nil, usagef("usage: breachd dlq replay [flags] SEQ ... | --all (see breachd dlq --help)")
	case !o.all && (o.source != "" || o.since != "" || o.until != "" || o.reason != ""):
		return nil, usagef("--source, --since, --until and --reason select letters for --all; with SEQ numbers leave them out")
	case o.formatIn != "" && o.mapping != "":
		return nil, usagef("--format-in and --mapping exclude each other")
	}
	var parser ingest.Parser // nil: canonical JSON as the pipeline reads it by default
	var err error
	switch {
	case o.formatIn != "":
		if parser, err = format.Lookup(o.formatIn); err != nil {
			return nil, usagef("--format-in: %v", err)
		}
	case o.mapping != "":
		if parser, err = format.LoadMapping(o.mapping); err != nil {
			return nil, fmt.Errorf("--mapping: %w", err)
		}
	}
	return func(ctx context.Context, js jetstream.JetStream) error {
		var letters []dlq.Letter
		more := false
		if o.all {
			want := f.Limit
			f.Limit++
			if letters, err = dlq.List(ctx, js, f); err != nil {
				return err
			}
			if more = len(letters) > want; more {
				letters = letters[:want]
			}
		} else {
			for _, seq := range seqs {
				l, err := dlq.Get(ctx, js, seq)
				if err != nil {
					return fmt.Errorf("nothing replayed: %w", err)
				}
				letters = append(letters, l)
			}
		}
		// Also for a dry run: the pipeline's Check says what it would do, including its
		// future-time limit (event.DefaultMaxFutureSkew, as `breachd run` by default).
		layout, err := bus.ReadLayout(ctx, js)
		if err != nil {
			return fmt.Errorf("nothing replayed: %w", err)
		}
		log := quiet()
		p := ingest.NewPipeline(bus.NewPublisher(js), layout, log, nil)
		if parser != nil {
			p = p.WithParser(parser)
		}
		var sink ingest.Sink = p
		outs, err := dlq.Replay(ctx, js, sink, letters, dlq.ReplayOptions{Delete: o.deleteOK, DryRun: o.dryRun, Parser: parser})
		if perr := o.printReplay(outs, more); perr != nil && err == nil {
			err = perr
		}
		if err != nil {
			return err
		}
		t := dlq.Tally(outs)
		if bad := t.Rejected + t.Failed; bad > 0 {
			verb := "were"
			if o.dryRun {
				verb = "would be"
			}
			return fmt.Errorf("%d of %d %s %s rejected again or failed", bad, len(outs), plural(len(outs), "letter", "letters"), verb)
		}
		return nil
	}, nil
}

func (o *dlqOptions) printReplay(outs []dlq.Outcome, more bool) error {
	t := dlq.Tally(outs)
	if outFormat == output.JSON {
		return output.Write(os.Stdout, output.JSON, struct {
			DryRun   bool          `json:"dry_run"`
			Outcomes []dlq.Outcome `json:"outcomes"`
			Totals   dlq.Totals    `json:"totals"`
			More     bool          `json:"more"`
		}{o.dryRun, outs, t, more})
	}
	for _, r := range outs {
		line := fmt.Sprintf("%d\t%s\t%s\t%s", r.Seq, safe(r.Source, 24), safe(r.Where, 32), r.Status)
		switch {
		case r.Deleted:
			line += " (deleted)"
		case r.Duplicate:
			line += " (already on EVENTS)"
		case r.NewCopy:
			line += " (stored again as a new letter: older than the duplicate window)"
		}
		if r.Reason != "" {
			line += ": " + safe(r.Reason, 160)
		}
		fmt.Println(line)
	}
	prefix := "replayed"
	if o.dryRun {
		prefix = "dry run, nothing published:"
	}
	fmt.Printf("%s %d %s: %d accepted, %d rejected again, %d skipped, %d failed, %d deleted\n", prefix, len(outs),
		plural(len(outs), "letter", "letters"), t.Accepted, t.Rejected, t.Skipped, t.Failed, t.Deleted)
	if more {
		fmt.Println("more letters match: run it again (with --delete the replayed ones are gone), or raise --limit")
	}
	return nil
}
