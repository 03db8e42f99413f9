package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/deploy"
	"breachd/ingest"
	"breachd/ingest/dlq"
	"breachd/ingest/format"
)

// dlqOptions are the flags of `breachd dlq`, shared by its verbs.
type dlqOptions struct {
	data, natsURL, natsCreds     string
	source, since, until, reason string
	limit                        int
	out                          string
	raw, all, deleteOK, dryRun   bool
	formatIn, mapping            string
}

func dlqCommand() *command {
	var o dlqOptions
	return &command{
		name:    "dlq",
		summary: "list, inspect and replay dead letters (rejected input)",
		usage:   "list|show|stats|replay [flags] [SEQ ...]",
		help: `
Every input record the pipeline rejects (not JSON, unknown kind, missing field, bad time, a line
the configured log format cannot read) is kept on the DEADLETTER stream with its source, the
reason, where it was read ("file.jsonl:42") and the original bytes. These verbs read and repair it:

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
events and every other verb as the operator, who may not (deploy/README.md, "NATS in
production"); with --nats, give a login in the URL or with --nats-creds.

Exit status: 0; 1 on an error, or when replay left a letter rejected again or failed (with
--dry-run: would leave); 2 on a usage error.

Examples:
  breachd dlq list --since 24h
  breachd dlq list --source file --reason "unknown kind" --format json
  breachd dlq show 42
  breachd dlq show --raw 42 > line.txt
  breachd dlq stats --since 2026-11-01
  breachd dlq replay --all --source file --format-in simplesamlphp --dry-run
  breachd dlq replay --all --source file --format-in simplesamlphp --delete
  breachd dlq replay --mapping lms.yaml 17 18 19`,
		flags: func(fset *flag.FlagSet) {
			fset.StringVar(&o.data, "data", envDefault("BREACHD_DATA", "data"), "data directory of the embedded engines (env BREACHD_DATA)")
			fset.StringVar(&o.natsURL, "nats", os.Getenv("BREACHD_NATS_URL"), "NATS server/cluster URLs, comma-separated (env BREACHD_NATS_URL)")
			natsCredsFlag(fset, &o.natsCreds)
			fset.StringVar(&o.source, "source", "", "only letters from this source name (file, stdin, http, kafka, ...)")
			fset.StringVar(&o.since, "since", "", "only letters stored at or after: a duration ago (24h, 7d) or a time (2026-11-02, RFC 3339)")
			fset.StringVar(&o.until, "until", "", "only letters stored at or before: as --since")
			fset.StringVar(&o.reason, "reason", "", "only letters whose reason contains this text (any case)")
			fset.IntVar(&o.limit, "limit", 100, "list, replay --all: at most this many letters (stats counts all)")
			fset.StringVar(&o.out, "format", "table", "output: table or json")
			fset.BoolVar(&o.raw, "raw", false, "show: write the original bytes exactly as stored, nothing else")
			fset.BoolVar(&o.all, "all", false, "replay: every letter the filters select (up to --limit)")
			fset.StringVar(&o.formatIn, "format-in", "", "replay: read the letters as this format: "+strings.Join(format.Names(), ", ")+" (default: canonical JSON as 'breachd run' reads it)")
			fset.StringVar(&o.mapping, "mapping", "", "replay: read the letters with this YAML mapping file")
			fset.BoolVar(&o.deleteOK, "delete", false, "replay: remove letters from DEADLETTER once they are accepted")
			fset.BoolVar(&o.dryRun, "dry-run", false, "replay: only check each letter with the parser; publish and delete nothing")
		},
		run: func(ctx context.Context, fset *flag.FlagSet, args []string) error {
			if len(args) == 0 {
				return usagef("usage: breachd dlq list|show|stats|replay [flags] (see breachd dlq --help)")
			}
			verb := args[0]
			pos, err := parseInterleaved(fset, args[1:])
			if err != nil {
				return err
			}
			if o.out != "table" && o.out != "json" {
				return usagef("--format: %q is not table or json", o.out)
			}
			filter, err := o.filter(time.Now())
			if err != nil {
				return err
			}
			var do func(context.Context, jetstream.JetStream) error
			switch verb {
			case "list":
				do = func(ctx context.Context, js jetstream.JetStream) error { return o.list(ctx, js, filter, pos) }
			case "stats":
				filter.Limit = -1
				do = func(ctx context.Context, js jetstream.JetStream) error { return o.stats(ctx, js, filter, pos) }
			case "show":
				if len(pos) != 1 {
					return usagef("usage: breachd dlq show [--raw] SEQ")
				}
				seq, err := parseSeq(pos[0])
				if err != nil {
					return err
				}
				do = func(ctx context.Context, js jetstream.JetStream) error { return o.show(ctx, js, seq) }
			case "replay":
				if do, err = o.replayer(filter, pos); err != nil {
					return err
				}
			default:
				return usagef("unknown dlq verb %q (want list, show, stats or replay)", verb)
			}
			// Only a replay that publishes logs in as the role that may publish events.
			role := deploy.NATSOperator
			if verb == "replay" && !o.dryRun {
				role = deploy.NATSReplay
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			js, closeFn, err := connectDLQ(ctx, o.data, o.natsURL, o.natsCreds, role, log)
			if err != nil {
				return err
			}
			defer closeFn()
			return do(ctx, js)
		},
	}
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

// connectDLQ connects to the NATS given (with credsFile, if any), else to the running
// instance's, else starts the embedded server on the data directory's NATS store; with the
// embedded server it logs in as role (deploy.NATSOperator or deploy.NATSReplay).
func connectDLQ(ctx context.Context, data, natsURL, credsFile, role string, log *slog.Logger) (jetstream.JetStream, func(), error) {
	connect := func(url string, login []nats.Option) (jetstream.JetStream, func(), error) {
		nc, _, err := bus.Connect(url, "breachd-dlq", log, login...)
		if err != nil {
			return nil, nil, err
		}
		js, err := bus.NewJetStream(nc, bus.DefaultWindow)
		if err != nil {
			nc.Close()
			return nil, nil, fmt.Errorf("jetstream: %w", err)
		}
		return js, func() { closeNATS(nc, log) }, nil
	}
	if natsURL != "" {
		login, err := bus.CredsLogin(credsFile, log.Warn)
		if err != nil {
			return nil, nil, err
		}
		return connect(natsURL, login)
	}
	ep, err := deploy.ReadEndpoint(data)
	switch {
	case err == nil && ep.NATS != "":
		js, closeFn, err := connect(ep.NATS, ep.NATSLogin(role))
		if err == nil {
			return js, closeFn, nil
		}
		log.Warn("endpoint file found but its breachd does not answer; opening the data directory", "err", err)
	case err == nil: // that instance uses an external NATS, which only --nats can name
		return nil, nil, fmt.Errorf("the breachd running on %s uses an external NATS: give it with --nats", data)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, nil, err
	}
	store := deploy.NATSDir(data)
	if _, err := os.Stat(store); err != nil {
		return nil, nil, fmt.Errorf("no breachd NATS data at %s (is --data right? for a NATS cluster give --nats): %w", store, err)
	}
	lock, err := deploy.LockDataDir(data) // no other process may open the store beside us
	if err != nil {
		return nil, nil, fmt.Errorf("no running breachd found for --data %s, and opening its NATS data failed: %w", data, err)
	}
	srv, users, err := deploy.StartEmbeddedNATS(data, log)
	if err != nil {
		lock.Release()
		return nil, nil, fmt.Errorf("no running breachd found for --data %s, and opening its NATS data failed: %w", data, err)
	}
	js, closeFn, err := connect(srv.ClientURL(), users.Credential(role).Options())
	if err != nil {
		srv.Shutdown()
		lock.Release()
		return nil, nil, err
	}
	return js, func() { closeFn(); srv.Shutdown(); lock.Release() }, nil
}

func closeNATS(nc *nats.Conn, log *slog.Logger) {
	if err := nc.FlushTimeout(5 * time.Second); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		log.Warn("flush nats before close", "err", err)
	}
	nc.Close()
}

func (o *dlqOptions) list(ctx context.Context, js jetstream.JetStream, f dlq.Filter, pos []string) error {
	if len(pos) > 0 {
		return usagef("dlq list takes no arguments, got %q (filters are flags: --source, --reason, ...)", pos[0])
	}
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
	if o.out == "json" {
		views := make([]letterView, len(letters))
		for i, l := range letters {
			views[i] = viewOf(l)
		}
		return writeJSON(os.Stdout, views)
	}
	if len(letters) == 0 {
		fmt.Println("no dead letters match")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tSTORED\tSOURCE\tWHERE\tREASON\tDATA")
	for _, l := range letters {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", l.Seq, l.Time.Local().Format(time.DateTime), terminalSafe([]byte(l.Source), 24),
			terminalSafe([]byte(l.Where), 32), terminalSafe([]byte(l.Reason), 80), terminalSafe(l.Data, 60))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if more {
		fmt.Printf("(first %d shown; more match: narrow the filters, or raise --limit)\n", want)
	}
	return nil
}

func (o *dlqOptions) stats(ctx context.Context, js jetstream.JetStream, f dlq.Filter, pos []string) error {
	if len(pos) > 0 {
		return usagef("dlq stats takes no arguments, got %q", pos[0])
	}
	s, err := dlq.Stats(ctx, js, f)
	if err != nil {
		return err
	}
	if o.out == "json" {
		return writeJSON(os.Stdout, s)
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
			fmt.Printf("%7d  %s\n", c.Count, terminalSafe([]byte(c.Key), 100))
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
	case o.out == "json":
		return writeJSON(os.Stdout, viewOf(l))
	}
	w := os.Stdout
	fmt.Fprintf(w, "seq:      %d\nstored:   %s\nsubject:  %s\nsource:   %s\nwhere:    %s\nreason:   %s\ngroup:    %s\nbytes:    %d\n",
		l.Seq, l.Time.Format(time.RFC3339Nano), terminalSafe([]byte(l.Subject), 0), terminalSafe([]byte(l.Source), 0),
		terminalSafe([]byte(l.Where), 0), terminalSafe([]byte(l.Reason), 0), terminalSafe([]byte(dlq.ReasonKey(l.Reason)), 0), len(l.Data))
	fmt.Fprintln(w, "data (control characters, invalid UTF-8 and invisible characters escaped; --raw for the exact bytes):")
	fmt.Fprintln(w, terminalSafe(l.Data, 0))
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

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// terminalSafe renders b for a terminal: printable characters as they are; control
// characters, invalid UTF-8 and invisible or direction-changing characters (which could hide
// or reorder what is shown) as \xNN or \u{NNNN}. max > 0 cuts the result to about max
// characters with "…".
func terminalSafe(b []byte, max int) string {
	var sb strings.Builder
	n := 0
	for len(b) > 0 {
		if max > 0 && n >= max {
			sb.WriteString("…")
			break
		}
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&sb, `\x%02x`, b[0])
		case r == '\t' || r == '\n' || r == '\r':
			sb.WriteString(strconv.QuoteRune(r)[1:3])
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&sb, `\x%02x`, r)
		case r >= 0x80 && (!unicode.IsPrint(r) || unicode.Is(unicode.Cf, r)):
			fmt.Fprintf(&sb, `\u{%04x}`, r)
		default:
			sb.WriteRune(r)
		}
		b = b[size:]
		n++
	}
	return sb.String()
}

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
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		sink, err := ingest.NewPipeline(bus.NewPublisher(js), layout, log, nil)
		if err != nil {
			return fmt.Errorf("nothing replayed: %w", err)
		}
		outs, err := dlq.Replay(ctx, js, sink, letters, dlq.ReplayOptions{Delete: o.deleteOK, DryRun: o.dryRun, Format: parser})
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
	if o.out == "json" {
		return writeJSON(os.Stdout, struct {
			DryRun   bool          `json:"dry_run"`
			Outcomes []dlq.Outcome `json:"outcomes"`
			Totals   dlq.Totals    `json:"totals"`
			More     bool          `json:"more"`
		}{o.dryRun, outs, t, more})
	}
	for _, r := range outs {
		line := fmt.Sprintf("%d\t%s\t%s\t%s", r.Seq, terminalSafe([]byte(r.Source), 24), terminalSafe([]byte(r.Where), 32), r.Status)
		switch {
		case r.Deleted:
			line += " (deleted)"
		case r.Duplicate:
			line += " (already on EVENTS)"
		case r.NewCopy:
			line += " (stored again as a new letter: older than the duplicate window)"
		}
		if r.Reason != "" {
			line += ": " + terminalSafe([]byte(r.Reason), 160)
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
