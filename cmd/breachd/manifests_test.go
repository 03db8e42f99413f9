package main

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"breachd/deploy/manifests"
)

// TestManifestCommandLines: every breachd command line of deploy/compose and deploy/k8s
// parses with the real command tree and passes the checks that need nothing running: its
// flags, arguments, the detector's batch flags, and engines given (the image has no embedded
// ones). Nothing is executed.
func TestManifestCommandLines(t *testing.T) {
	cmds, err := manifests.BreachdCommands(context.Background(), "../..")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mc := range cmds {
		t.Run(mc.Where, func(t *testing.T) {
			// The container's environment only: flags take their defaults from BREACHD_*.
			for _, kv := range os.Environ() {
				if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "BREACHD_") {
					t.Setenv(k, "")
					os.Unsetenv(k)
				}
			}
			for k, v := range mc.Env {
				t.Setenv(k, v)
			}
			root := rootCommand() // registers every flag afresh, with its default
			c, rest, err := root.Find(mc.Args)
			if err != nil || c == root {
				t.Fatalf("%q: no such command (%v)", mc.Args[0], err)
			}
			seen[c.Name()] = true
			if err := c.ParseFlags(rest); err != nil {
				t.Fatal(err) // the subtest names the manifest; the args hold passwords
			}
			for _, check := range []func() error{
				func() error { return c.ValidateArgs(c.Flags().Args()) },
				c.ValidateRequiredFlags, c.ValidateFlagGroups,
				func() error { return checkShared(c) },
			} {
				if err := check(); err != nil {
					t.Error(err)
				}
			}
			if c.Flags().Lookup("detect-batch") != nil {
				if err := checkDetectFlags(); err != nil {
					t.Error(err)
				}
			}
			if _, err := stageInfra(); err != nil {
				t.Error(err)
			}
			if infra.NATSURL == "" || infra.ClickHouseDSN == "" {
				t.Errorf("%s: --nats and --clickhouse are needed: the image has no embedded engines", mc.Where)
			}
		})
	}
	for _, want := range []string{"run", "detect", "serve"} {
		if !seen[want] {
			t.Errorf("no manifest runs breachd %s", want)
		}
	}
	if len(cmds) < 10 || !slices.ContainsFunc(cmds, func(c manifests.Command) bool { return strings.HasPrefix(c.Where, "k8s") }) {
		t.Errorf("%d command lines: want those of Compose and of Kubernetes", len(cmds))
	}
}
