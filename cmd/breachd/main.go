// Command breachd is the breach-detection pipeline for Feide logins and school-service access
// logs. See `breachd help`.
//
// Each command's file holds its flags and a call into the packages that do the work (flags.go:
// the shared flags; sources.go and kafka.go: the inputs of run; faults.go: the crash tests'
// fault point). The
// commands form one tree (spf13/cobra); the flags several commands share are declared once
// (flags.go) and added to each command that takes them.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"breachd/bus"
	"breachd/history/chdb"
)

var version = "dev"

func main() {
	// The embedded ClickHouse engine would read a piped stdin as its own insert data; move our
	// stdin out of its reach before anything captures os.Stdin.
	if err := chdb.DetachStdin(); err != nil {
		fmt.Fprintln(os.Stderr, "breachd:", err)
		os.Exit(1)
	}
	// SIGHUP reloads rules where a detector runs (deploy.RuleReloader asks for it); anywhere
	// else it must not kill the process.
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := rootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "breachd:", err)
		switch {
		case !running || errors.As(err, new(usageError)):
			os.Exit(2) // the command line was wrong: nothing ran
		case errors.As(err, new(*bus.LostError)):
			os.Exit(exitLost)
		}
		os.Exit(1)
	}
}

// exitLost is the exit status of a process running stages that did not start because events
// the detectors had not processed are lost from the NATS store (bus.LostError).
const exitLost = 3

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// running is set once the command line is parsed and checked and a command runs: an error
// before that is a usage error.
var running bool

func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "breachd <command> [flags] [arguments]",
		Short: "breach detection for Feide logins and school-service access logs",
		Long: `breachd detects personal-data breaches in Feide logins and school-service access logs:
ingest → NATS JetStream → detect (expr rules over directory facts) → notify (incidents,
72-hour clock), with history in ClickHouse.

Start with: breachd run --demo`,
		SilenceErrors: true, SilenceUsage: true,
		PersistentPreRunE: func(c *cobra.Command, _ []string) error {
			if err := checkShared(c); err != nil {
				return err
			}
			running = true
			return nil
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%v (see '%s --help')", err, c.CommandPath())
	})
	cobra.AddTemplateFunc("subcommands", subcommandList)
	root.SetUsageTemplate(usageTemplate)
	root.SetHelpTemplate(`Usage: {{.UseLine}}{{with (or .Long .Short)}}

{{. | trimTrailingWhitespaces}}{{end}}` + usageTemplate[len("Usage: {{.UseLine}}"):])
	root.AddCommand(runCommand(), serveCommand(), detectCommand(), simulateCommand(), benchCommand(), historyCommand(), migrateCommand(), rulesCommand(),
		dlqCommand(), incidentsCommand(), usersCommand(), healthCommand(), &cobra.Command{Use: "version", Short: "print the version", Args: noArgs,
			Run: func(*cobra.Command, []string) { fmt.Println("breachd", version) }})
	return root
}

// usageTemplate is the help of every command after its explanation: usage, subcommands,
// examples, flags.
const usageTemplate = `Usage: {{.UseLine}}{{if .HasAvailableSubCommands}}

Commands:
{{subcommands .}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

Run '{{.CommandPath}} <command> --help' for a command's flags.{{end}}
`

// subcommandList lists c's commands, names aligned one column past the longest.
func subcommandList(c *cobra.Command) string {
	width := 0
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			width = max(width, len(s.Name()))
		}
	}
	out := ""
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			out += fmt.Sprintf("  %-*s %s\n", width+1, s.Name(), s.Short)
		}
	}
	return out[:max(0, len(out)-1)]
}

// group returns a command of subcommands: without one, or with an unknown one, it is a usage
// error (unknown is a format with the %q of the name given).
func group(c *cobra.Command, usage, unknown string, subs ...*cobra.Command) *cobra.Command {
	c.AddCommand(subs...)
	c.RunE = func(_ *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usageError{usage}
		}
		return usagef(unknown, args[0])
	}
	return c
}

// posArgs is a command's check of its positional arguments: min to max of them (max < 0: any
// number); else a usage error (hint, when given, says where such values go).
func posArgs(min, max int, hint string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		switch {
		case max >= 0 && len(args) > max:
			return usagef("%s: unexpected arguments %q%s (usage: %s)", cmdName(c), args[max:], hint, c.UseLine())
		case len(args) < min:
			return usagef("usage: %s%s", c.UseLine(), hint)
		}
		return nil
	}
}

// noArgs refuses positional arguments.
var noArgs = posArgs(0, 0, "")
