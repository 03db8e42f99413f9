package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"breachd/apiclient"
	"breachd/deploy"
	"breachd/ingest/dlq"
	"breachd/ingest/format"
	"breachd/output"
)

// dlqOptions are the flags of `breachd dlq`, shared by its commands.
type dlqOptions struct {
	filter            dlq.FilterSpec
	raw               bool
	formatIn, mapping string
	replay            dlq.ReplayRequest // what replay does; its Filter, read from filter, is every command's
}

func dlqCommand() *cobra.Command {
	var o dlqOptions
	c := &cobra.Command{
		Use:   "dlq <command> [flags] [SEQ ...]",
		Short: "list, inspect and replay dead letters (rejected input)",
		Long: `Every input record the pipeline rejects (not JSON, unknown kind, missing field, bad time, a line
the configured log format cannot read) is kept on the DEADLETTER stream with its source, the
reason, where it was read ("file.jsonl:42") and the original bytes. These commands read it and
replay it; 'show' escapes the bytes for the terminal.

Reading never consumes, acknowledges or changes anything. A letter rejected again is not stored
twice (JetStream drops the copy within the stream's duplicate window, 24 h by default).

` + whereInstance + `
On the embedded NATS, replay logs in as the user that may publish events and every other
command as the operator, who may not (deploy/README.md, "NATS in production"); with --nats,
give a login in the URL or with --nats-creds.

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
	// sub is one dlq command: prepare checks its arguments and returns what it does once
	// logged in (as the operator; a replay that publishes: as replay), which returns the result
	// to print and the command's failure.
	// remote, when the API offers the command, is what it does with --server (called after
	// prepare).
	type do = func(context.Context, jetstream.JetStream) (any, error)
	type call = func(context.Context, *apiclient.Client) (any, error)
	sub := func(use, short string, filters bool, args cobra.PositionalArgs, prepare func(pos []string) (do, error), remote call) *cobra.Command {
		s := &cobra.Command{Use: use, Short: short, Args: args}
		dataFlags(s.Flags())
		natsFlags(s.Flags())
		withOutput(s, output.Documents)
		if remote != nil {
			withServer(s)
		}
		if filters {
			fs := s.Flags()
			fs.StringVar(&o.filter.Source, "source", "", "only letters from this source name (file, stdin, http, kafka, ...)")
			fs.StringVar(&o.filter.Since, "since", "", "only letters stored at or after: a duration ago (24h, 7d) or a time (2026-11-02, RFC 3339)")
			fs.StringVar(&o.filter.Until, "until", "", "only letters stored at or before: as --since")
			fs.StringVar(&o.filter.Reason, "reason", "", "only letters whose reason contains this text (any case)")
			fs.IntVar(&o.filter.Limit, "limit", 100, "list, replay --all: at most this many letters (stats counts all)")
		}
		s.RunE = func(c *cobra.Command, pos []string) error {
			if filters {
				var err error
				if o.replay.Filter, err = o.filter.Filter(time.Local, time.Now()); err != nil {
					return usagef("--%v", err)
				}
			}
			run, err := prepare(pos)
			if err != nil {
				return err
			}
			ac := deploy.AttachConfig{NATS: deploy.NATSOperator}
			if c.Name() == "replay" && !o.replay.Options.DryRun {
				ac.NATS = deploy.NATSReplay
			}
			return printVia(c, ac, func(ctx context.Context, a *deploy.Attached) (any, error) { return run(ctx, a.JS) }, remote)
		}
		return s
	}
	filterFlags := posArgs(0, 0, ": filters are flags: --source, --reason, ...")
	list := sub("list [flags]", "the dead letters, oldest first", true, filterFlags, func([]string) (do, error) {
		return func(ctx context.Context, js jetstream.JetStream) (any, error) {
			return result(dlq.Page(ctx, js, o.replay.Filter))
		}, nil
	}, func(ctx context.Context, api *apiclient.Client) (any, error) {
		return result(api.DeadLetters(ctx, o.replay.Filter))
	})
	stats := sub("stats [flags]", "counts by source and by reason group", true, filterFlags, func([]string) (do, error) {
		o.replay.Filter.Limit = -1
		return func(ctx context.Context, js jetstream.JetStream) (any, error) {
			return result(dlq.Stats(ctx, js, o.replay.Filter))
		}, nil
	}, nil)
	show := sub("show [--raw] SEQ", "one letter: its headers and the original bytes", false, posArgs(1, 1, ""), func(pos []string) (do, error) {
		seq, err := parseSeq(pos[0])
		return func(ctx context.Context, js jetstream.JetStream) (any, error) {
			l, err := dlq.Get(ctx, js, seq)
			if err != nil || !o.raw {
				return result(dlq.ViewOf(l), err)
			}
			_, err = os.Stdout.Write(l.Data)
			return nil, err
		}, err
	}, nil)
	show.Flags().BoolVar(&o.raw, "raw", false, "write the original bytes exactly as stored, nothing else")
	replay := sub("replay [flags] SEQ ... | --all", "submit letters again through the ingest pipeline", true, nil, o.replayer, o.remoteReplay)
	replay.Long = `Submits the letters SEQ ..., or --all those the filters select, again through the ingest
pipeline under their original source name. --format-in or --mapping reads them with another
parser: a line rejected because the wrong format was configured is replayed with the right one.
--delete removes the letters that are now accepted, only after their event is stored.`
	fs := replay.Flags()
	fs.BoolVar(&o.replay.All, "all", false, "every letter the filters select (up to --limit)")
	fs.StringVar(&o.formatIn, "format-in", "", "read the letters as this format: "+strings.Join(format.Names(), ", ")+" (default: canonical JSON as 'breachd run' reads it)")
	fs.StringVar(&o.mapping, "mapping", "", "read the letters with this YAML mapping file")
	fs.BoolVar(&o.replay.Options.Delete, "delete", false, "remove letters from DEADLETTER once they are accepted")
	fs.BoolVar(&o.replay.Options.DryRun, "dry-run", false, "only check each letter with the parser; publish and delete nothing")
	return group(c, "usage: breachd dlq list|show|stats|replay [flags] (see breachd dlq --help)",
		"unknown dlq verb %q (want list, show, stats or replay)", list, show, stats, replay)
}

// remoteReplay is replay through the API (--server), once replayer checked the arguments.
func (o *dlqOptions) remoteReplay(ctx context.Context, api *apiclient.Client) (any, error) {
	if o.mapping != "" {
		return nil, usagef("dlq replay: --mapping cannot be used with --server (the file is read where the replay runs); use --format-in, or replay on the box")
	}
	r := o.replay
	rep, err := api.Replay(ctx, r.Seqs, r.All, r.Filter, o.formatIn, r.Options.Delete, r.Options.DryRun)
	if err != nil {
		return nil, err
	}
	return rep, rep.Err()
}

func parseSeq(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, usagef("%q is not a dead-letter sequence number (the SEQ column of breachd dlq list)", s)
	}
	return n, nil
}

// replayer checks the replay arguments and returns the replay to run once connected.
func (o *dlqOptions) replayer(pos []string) (func(context.Context, jetstream.JetStream) (any, error), error) {
	r := &o.replay
	for _, p := range pos {
		seq, err := parseSeq(p)
		if err != nil {
			return nil, err
		}
		r.Seqs = append(r.Seqs, seq)
	}
	switch {
	case r.All && len(r.Seqs) > 0:
		return nil, usagef("give SEQ numbers or --all, not both")
	case !r.All && len(r.Seqs) == 0:
		return nil, usagef("usage: breachd dlq replay [flags] SEQ ... | --all (see breachd dlq --help)")
	case !r.All && o.filter != (dlq.FilterSpec{Limit: o.filter.Limit}):
		return nil, usagef("--source, --since, --until and --reason select letters for --all; with SEQ numbers leave them out")
	case o.formatIn != "" && o.mapping != "":
		return nil, usagef("--format-in and --mapping exclude each other")
	}
	var err error // neither flag: canonical JSON, as the pipeline reads it by default
	if r.Options.Format, err = format.Select(o.formatIn, o.mapping, false); err != nil && o.mapping != "" {
		return nil, fmt.Errorf("--mapping: %w", err)
	} else if err != nil {
		return nil, usagef("--format-in: %v", err)
	}
	return func(ctx context.Context, js jetstream.JetStream) (any, error) {
		rep, err := dlq.ReplayLetters(ctx, js, *r, quiet())
		if rep == nil {
			return nil, err
		}
		return rep, err
	}, nil
}
