package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	usage   string // argument synopsis after the command name
	help    string // longer explanation printed by --help
	run     func(ctx context.Context, fs *flag.FlagSet, args []string) error
	flags   func(fs *flag.FlagSet) // declares the flags; run reads them through closures
}

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

var version = "dev"

func commands() []*command {
	return []*command{runCommand(), simulateCommand(), historyCommand(), migrateCommand(), rulesCommand(), detectCommand(), dlqCommand(), incidentsCommand(), versionCommand()}
}

func dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			return dispatch(ctx, []string{args[1], "--help"})
		}
		printUsage(os.Stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.execute(ctx, args[1:])
		}
	}
	printUsage(os.Stderr)
	return usagef("unknown command %q", args[0])
}

func (c *command) execute(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("breachd "+c.name, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: breachd %s %s\n\n%s\n", c.name, c.usage, strings.TrimSpace(c.help))
		if hasFlags(fs) {
			fmt.Fprintln(w, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	if c.flags != nil {
		c.flags(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()} // the flag package has printed the usage
	}
	return c.run(ctx, fs, fs.Args())
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `breachd detects personal-data breaches in Feide logins and school-service access logs:
ingest → NATS JetStream → detect (expr rules over directory facts) → notify (incidents,
72-hour clock), with history in ClickHouse.

Usage: breachd <command> [flags] [arguments]

Commands:
`)
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'breachd <command> --help' for a command's flags.
Start with: breachd run --demo
`)
}

func versionCommand() *command {
	return &command{name: "version", summary: "print the version", help: "Prints the version of this binary.",
		run: func(_ context.Context, _ *flag.FlagSet, _ []string) error {
			fmt.Println("breachd", version)
			return nil
		}}
}

// logFlags adds --log-level and --log-format and returns a constructor for the logger.
func logFlags(fs *flag.FlagSet) func() (*slog.Logger, error) {
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "text", "log format: text or json (logs go to stderr)")
	return func() (*slog.Logger, error) {
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(*level)); err != nil {
			return nil, usagef("--log-level: %v", err)
		}
		opts := &slog.HandlerOptions{Level: lv}
		switch *format {
		case "text":
			return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
		case "json":
			return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
		}
		return nil, usagef("--log-format: %q is not text or json", *format)
	}
}

// envDefault returns the environment variable's value, or def.
func envDefault(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
