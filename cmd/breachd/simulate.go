package main

import (
	"fmt"
	"io"
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
		persons    int
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
  breachd run week.jsonl

With --persons N it writes instead only the directory snapshot of a federation of N persons
sized like Feide's school sector (1300000: pupils, teachers and other staff in 371
municipalities and counties, their classes and teaching groups, and the pupils' guardians), for
measuring a detector's directory at that size:

  breachd simulate --persons 1300000 -o feide.jsonl`,
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
	fs.IntVar(&persons, "persons", 0, fmt.Sprintf("write only the directory of a federation of this many persons (Feide: %d); the size, --days and breach flags do not apply", simulate.FeidePersons))
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
		if fs.Changed("persons") {
			if persons < 1 {
				return usagef("--persons %d: want a number of persons of at least 1 (Feide: %d)", persons, simulate.FeidePersons)
			}
			for _, f := range []string{"orgs", "schools", "classes", "pupils", "days", "no-breaches", "truth"} {
				if fs.Changed(f) {
					return usagef("--%s does not apply with --persons (a directory-only federation); drop one of them", f)
				}
			}
			fed := simulate.Federation{Seed: cfg.Seed, Persons: persons, Start: cfg.Start}
			if err := fed.Validate(); err != nil {
				return usagef("--persons: %v", err)
			}
			return writeOut(out, func(w io.Writer) error {
				size, err := simulate.WriteFederation(c.Context(), fed, w)
				if err != nil {
					return fmt.Errorf("simulate: %w", err)
				}
				fmt.Fprintf(os.Stderr, "wrote %d events: %d persons (%d pupils, %d teachers, %d other staff), %d groups, %d memberships, %d guardianships in %d organisations, %d schools\n",
					size.Events, size.Persons, size.Pupils, size.Teachers, size.Others, size.Groups, size.Memberships, size.Guardianships, size.Orgs, size.Schools)
				return nil
			})
		}
		gen, err := simulate.New(cfg)
		if err != nil {
			return usagef("%v", err)
		}
		return writeOut(out, func(w io.Writer) error {
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
		})
	}
	return c
}

// writeOut runs write on the file out (created), or on stdout for "-".
func writeOut(out string, write func(io.Writer) error) error {
	if out == "-" {
		return write(os.Stdout)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
