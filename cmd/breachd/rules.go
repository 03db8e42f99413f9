package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

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

// compileRules loads the rules (deploy.LoadRules). When they do not compile it prints every
// compile error to w as file:line:col: rule <id>: message, in file and position order, and
// returns an error of the command that counts them; an error that is not a compile error (an
// unreadable file) is returned as it is.
func compileRules(c *cobra.Command, w io.Writer, paths []string, withDefault bool) (*rules.Set, int, error) {
	set, files, err := deploy.LoadRules(paths, withDefault)
	ces := deploy.CompileErrors(err)
	if len(ces) == 0 {
		return set, files, err
	}
	slices.SortStableFunc(ces, func(a, b *rules.CompileError) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	for _, ce := range ces {
		fmt.Fprintln(w, ce.Error())
	}
	return nil, 0, fmt.Errorf("%s: the rules do not compile: %d %s (see breachd rules lint)", c.CommandPath()[len("breachd "):], len(ces), plural(len(ces), "error", "errors"))
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
		for _, r := range set.Rules() {
			if r.Tests == 0 {
				fmt.Printf("%s:%d:1: rule %s: warning: no tests (add fixtures under tests:, see docs/rules.md)\n", r.File, r.Line, r.ID)
			}
		}
		fmt.Printf("%d rules in %d files OK\n", set.Len(), files)
		return nil
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
		if !slices.ContainsFunc(set.Rules(), func(r rules.Rule) bool { return filter.MatchString(r.ID) }) {
			return fmt.Errorf("rules test: no rule id matches --run %q", run)
		}
		var results []rules.TestResult
		for _, r := range rules.RunTests(set) {
			if filter.MatchString(r.Rule) {
				results = append(results, r)
			}
		}
		rep := rules.NewTestReport(results)
		if err := output.Write(os.Stdout, map[bool]string{true: output.JSON, false: output.Table}[asJSON], rep); err != nil || rep.Failed == 0 {
			return err
		}
		return fmt.Errorf("rules test: %d of %d fixtures failed", rep.Failed, len(results))
	}
	return c
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
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
		if asJSON {
			return output.Write(os.Stdout, output.JSON, set.Rules())
		}
		t := &output.Rows{Columns: []string{"ID", "SEVERITY", "WHEN", "RESPOND", "TAGS", "FILE"}, Plain: true}
		for _, r := range set.Rules() {
			when := make([]string, len(r.When))
			for i, k := range r.When {
				when[i] = string(k)
			}
			respond := "none"
			if r.Respond {
				respond = "deactivate"
			}
			t.Rows = append(t.Rows, []any{r.ID, r.Severity, strings.Join(when, ","), respond, strings.Join(r.Tags, ","), fmt.Sprintf("%s:%d", r.File, r.Line)})
		}
		return output.Write(os.Stdout, output.Table, t)
	}
	return c
}
