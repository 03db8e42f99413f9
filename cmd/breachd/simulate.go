package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"breachd/simulate"
)

func simulateCommand() *cobra.Command {
	var (
		cfg        = simulate.Defaults()
		start      string
		out        string
		noBreaches bool
		truth      bool
	)
	c := &cobra.Command{
		Use:   "simulate [flags]",
		Short: "write a simulated school day (canonical JSON Lines) with injected breaches",
		Args:  noArgs,
		Long: `Writes the same generator 'breachd run --demo' uses as canonical JSON Lines (events.md): first a
directory snapshot (persons, group memberships, guardianships), then each day's logins and
service accesses in time order, with a few injected breaches. The output is deterministic for a
given --seed and sizes, so it serves tests and benchmarks:

  breachd simulate --seed 7 --days 5 -o week.jsonl
  breachd run week.jsonl`,
	}
	fs := c.Flags()
	fs.Int64Var(&cfg.Seed, "seed", cfg.Seed, "random seed; the same seed and sizes give the same output")
	fs.IntVar(&cfg.Orgs, "orgs", cfg.Orgs, "organisations (school owners)")
	fs.IntVar(&cfg.SchoolsPerOrg, "schools", cfg.SchoolsPerOrg, "schools per organisation")
	fs.IntVar(&cfg.ClassesPerSchool, "classes", cfg.ClassesPerSchool, "classes per school")
	fs.IntVar(&cfg.PupilsPerClass, "pupils", cfg.PupilsPerClass, "pupils per class")
	fs.IntVar(&cfg.Days, "days", cfg.Days, "school days")
	fs.StringVar(&start, "start", "", "first day, YYYY-MM-DD (default "+cfg.Start.Format("2006-01-02")+")")
	fs.BoolVar(&noBreaches, "no-breaches", false, "do not inject breaches")
	fs.BoolVar(&truth, "truth", false, "print the injected breaches (ground truth) to stderr")
	fs.StringVarP(&out, "output", "o", "-", "output file; - for stdout")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if start != "" {
			d, err := time.ParseInLocation("2006-01-02", start, cfg.Start.Location())
			if err != nil {
				return usagef("--start: %v", err)
			}
			cfg.Start = d
		}
		cfg.Breaches = !noBreaches
		gen, err := simulate.New(cfg)
		if err != nil {
			return usagef("%v", err)
		}
		w := os.Stdout
		if out != "-" {
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		n, err := gen.WriteJSONLines(c.Context(), w)
		if err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		if truth {
			for _, b := range gen.Breaches() {
				fmt.Fprintln(os.Stderr, b)
			}
		}
		if out != "-" {
			fmt.Fprintf(os.Stderr, "wrote %d events to %s\n", n, out)
		}
		return nil
	}
	return c
}
