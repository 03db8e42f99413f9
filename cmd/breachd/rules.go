package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	"github.com/spf13/cobra"

	"breachd/deploy"
	"breachd/output"
	"breachd/rules"
)

func rulesCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "rules <command> [flags] [paths...]",
		Short: "lint, test, list and backtest detection rules",
		Long: `Tools for rule authors; each has its own --help:

  breachd rules lint [paths...]      compile rule files, print every error as file:line:col
  breachd rules test [paths...]      run every rule's fixtures (the tests: in the YAML)
  breachd rules list [paths...]      list the rules
  breachd rules backtest --from T1 --to T2 [--rules paths]
                                     replay stored history through the rules, report the hits

Paths are rule files or directories (searched for *.yaml and *.yml); without paths the
commands work on the shipped default pack, and --with-default adds the pack to local rules.
The workflow: lint → test → backtest → deploy ('breachd run --rules dir'), where the detector
reloads the files when they change or on SIGHUP. See docs/rules.md.`,
	}
	return group(c, "usage: breachd rules lint|test|list|backtest [flags] [paths...] (see breachd rules --help)",
		"unknown rules command %q (want lint, test, list or backtest)",
		rulesLintCommand(), rulesTestCommand(), rulesListCommand(), rulesBacktestCommand())
}

// withDefaultFlag adds --with-default.
func withDefaultFlag(c *cobra.Command, p *bool) {
	c.Flags().BoolVar(p, "with-default", false, "merge the given rules with the shipped pack (duplicate ids are errors)")
}

// compileRules loads the rules (deploy.CheckRules). When they do not compile it prints every
// compile error to w and returns an error of the command that counts them.
func compileRules(c *cobra.Command, w io.Writer, paths []string, withDefault bool) (*rules.Set, int, error) {
	set, files, err := deploy.CheckRules(paths, withDefault)
	var rerr deploy.RulesError
	if errors.As(err, &rerr) {
		_ = rerr.WriteText(w)
		return nil, 0, fmt.Errorf("%s: %v (see breachd rules lint)", cmdName(c), err)
	}
	return set, files, err
}

func rulesLintCommand() *cobra.Command {
	var withDefault bool
	c := &cobra.Command{
		Use:   "lint [--with-default] [paths...]",
		Short: "compile rule files and report every error",
		Long: `Compiles the rule files (the shipped pack without paths) exactly as the detector does and
prints every problem, one per line, as

  file:line:col: rule <id>: message

(bad YAML, unknown or missing keys, bad values, expressions that do not compile or have the
wrong type, duplicate ids). Rules without fixtures get a warning. Exit status 0 when everything
compiles ("N rules in M files OK"), 1 otherwise.

  breachd rules lint rules/local/
  breachd rules lint --with-default rules/local/   # also check ids against the pack`,
	}
	withDefaultFlag(c, &withDefault)
	c.RunE = func(c *cobra.Command, paths []string) error {
		set, files, err := compileRules(c, os.Stdout, paths, withDefault)
		if err != nil {
			return err
		}
		return output.Write(os.Stdout, output.Table, rules.Lint{Rules: set.Rules(), Files: files})
	}
	return c
}

func rulesTestCommand() *cobra.Command {
	var (
		withDefault, asJSON bool
		run                 string
	)
	c := &cobra.Command{
		Use:   "test [--with-default] [--run REGEXP] [--json] [paths...]",
		Short: "run the rules' fixtures",
		Long: `Runs every fixture (the tests: list of each rule, see docs/rules.md): each on a fresh directory
and engine holding that rule alone; a fixture passes when the rule raises exactly 'expect'
alerts over its events and no expression fails. Prints one line per fixture,

  PASS rule/fixture name (file:line)
  FAIL rule/fixture name (file:line)

followed for a failure by want/got and the alerts the rule raised, and ends with the line
"N passed, N failed". Exit status 1 when a fixture fails, the rules do not compile, or --run
matches no rule.

  breachd rules test                              # the shipped pack
  breachd rules test --run '^credential' rules/local/
  breachd rules test --json rules/local/ > results.json`,
	}
	withDefaultFlag(c, &withDefault)
	c.Flags().StringVar(&run, "run", "", "only the fixtures of rules whose id matches this regular expression")
	c.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON (an object with results, passed, failed)")
	c.RunE = func(_ *cobra.Command, paths []string) error {
		filter, err := regexp.Compile(run)
		if err != nil {
			return usagef("--run: %v", err)
		}
		set, _, err := compileRules(c, os.Stdout, paths, withDefault)
		if err != nil {
			return err
		}
		rep, err := rules.RunTestsMatching(set, filter)
		if err != nil {
			return fmt.Errorf("rules test: --run: %w", err)
		}
		return cmp.Or(output.Write(os.Stdout, jsonOr(asJSON), rep), prefix("rules test", rep.Err()))
	}
	return c
}

// jsonOr is the output format of --json: JSON, else the table.
func jsonOr(asJSON bool) string {
	return map[bool]string{true: output.JSON, false: output.Table}[asJSON]
}

// prefix prefixes err, if any, with the command.
func prefix(cmd string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	return nil
}

func rulesListCommand() *cobra.Command {
	var withDefault, asJSON bool
	c := &cobra.Command{
		Use:   "list [--with-default] [--json] [paths...]",
		Short: "list rules",
		Long: `Lists the rules (the shipped pack without paths) in load order: id, severity, the event kinds
it runs on, whether a hit may request deactivation, tags, and where it is defined.

  breachd rules list
  breachd rules list --json rules/local/`,
	}
	withDefaultFlag(c, &withDefault)
	c.Flags().BoolVar(&asJSON, "json", false, "print the rules as JSON")
	c.RunE = func(_ *cobra.Command, paths []string) error {
		set, _, err := compileRules(c, os.Stderr, paths, withDefault)
		if err != nil {
			return err
		}
		return output.Write(os.Stdout, jsonOr(asJSON), rules.Listing(set.Rules()))
	}
	return c
}
