package backtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"breachd/backtest"
	"breachd/deploy"
	"breachd/event"
	"breachd/history"
	"breachd/output"
	"breachd/rules"
	"breachd/simulate"
)

// loadDay writes a simulated school day (one organisation, breaches injected) into a fresh
// embedded history and returns it with the generator.
func loadDay(t *testing.T) (*history.Store, *simulate.Generator) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in, err := deploy.StartHistoryOnly(ctx, deploy.InfraConfig{DataDir: filepath.Join(t.TempDir(), "data"),
		ClickHouseDSN: os.Getenv("BREACHD_TEST_CLICKHOUSE_DSN"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open history (the embedded engine needs libchdb.so: run scripts/setup.sh): %v", err)
	}
	t.Cleanup(in.Close)
	cfg := simulate.Defaults()
	cfg.Orgs = 1
	gen, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var batch []*event.Event
	flush := func() error {
		err := in.History.WriteEvents(ctx, batch)
		batch = batch[:0]
		return err
	}
	err = gen.Run(ctx, func(e *event.Event) error {
		if batch = append(batch, e); len(batch) == 5000 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		t.Fatalf("write the simulated day: %v", err)
	}
	return in.History, gen
}

func pack(t *testing.T) *rules.Set {
	t.Helper()
	set, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// scenarioAccounts maps `scenario:<name>` tags of the report's rules to the accounts that fired.
func scenarioAccounts(rep *backtest.Report) map[string][]string {
	tags := map[string][]string{}
	for _, r := range rep.Rules {
		tags[r.Rule] = r.Tags
	}
	out := map[string][]string{}
	for _, k := range rep.Top {
		for _, tag := range tags[k.Rule] {
			if s, ok := strings.CutPrefix(tag, "scenario:"); ok && !slices.Contains(out[s], k.Account) {
				out[s] = append(out[s], k.Account)
			}
		}
	}
	for s := range out {
		slices.Sort(out[s])
	}
	return out
}

// TestBacktestSimulatedDay: over the simulated day the pack finds exactly the injected
// breaches, each by the rules tagged with its scenario, and alerts no other account; a range
// after the breaches finds nothing although its warm-up reaches back; Only restricts the
// report.
func TestBacktestSimulatedDay(t *testing.T) {
	ctx := context.Background()
	store, gen := loadDay(t)
	set := pack(t)
	day := gen.Config().Start
	want := map[string][]string{}
	for _, b := range gen.Breaches() {
		want[b.Scenario] = append(want[b.Scenario], b.Account)
	}
	for s := range want {
		slices.Sort(want[s])
	}

	var phases []string
	rep, err := backtest.Run(ctx, store, backtest.Options{From: day, To: day.Add(24 * time.Hour), Rules: set, Top: 1000,
		Warmup: backtest.AutoWarmup(set), ChunkRows: 2000, Lookup: store,
		Progress: func(p backtest.Progress) {
			if p.Done {
				phases = append(phases, p.Phase)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if got := scenarioAccounts(rep); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("accounts by scenario tag = %v\nwant the simulator's breaches %v", got, want)
	}
	// No false positive: every account alerted by any rule is a breach account.
	breachAccounts := map[string]bool{}
	for _, b := range gen.Breaches() {
		breachAccounts[b.Account] = true
	}
	for _, k := range rep.Top {
		if !breachAccounts[k.Account] {
			t.Errorf("false positive: rule %s alerted %d times for %s", k.Rule, k.Alerts, k.Account)
		}
	}
	for _, r := range rep.Rules {
		if r.Errors > 0 || r.LookupErrors > 0 {
			t.Errorf("rule %s: %d expression failures, %d unanswered lookups", r.Rule, r.Errors, r.LookupErrors)
		}
	}
	if len(rep.Rules) != set.Len() || rep.Events == 0 || rep.DirectoryEvents == 0 || rep.Alerts == 0 {
		t.Errorf("report: %d rules, %d events, %d directory events before, %d alerts", len(rep.Rules), rep.Events, rep.DirectoryEvents, rep.Alerts)
	}
	if !slices.Equal(phases, []string{backtest.PhaseDirectory, backtest.PhaseWarmup, backtest.PhaseReplay}) {
		t.Errorf("phases reported done: %v", phases)
	}

	// After the breaches (all over by 09:00), with a warm-up reaching back 10 minutes.
	late, err := backtest.Run(ctx, store, backtest.Options{From: day.Add(12 * time.Hour), To: day.Add(24 * time.Hour), Rules: set,
		Top: 10, Warmup: backtest.AutoWarmup(set), Lookup: store})
	if err != nil {
		t.Fatal(err)
	}
	if late.Alerts != 0 || len(late.Top) != 0 || late.Events == 0 {
		t.Errorf("range without breaches: %d alerts over %d events, top %+v", late.Alerts, late.Events, late.Top)
	}

	only, err := backtest.Run(ctx, store, backtest.Options{From: day, To: day.Add(24 * time.Hour), Rules: set, Top: 1000,
		Only: []string{"credential-stuffing"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(only.Rules) != 1 || only.Rules[0].Rule != "credential-stuffing" || only.Rules[0].Alerts != 1 {
		t.Errorf("Only credential-stuffing: rules %+v", only.Rules)
	}
	if got := scenarioAccounts(only); len(got) != 1 || !slices.Equal(got["credential_stuffing"], want["credential_stuffing"]) {
		t.Errorf("Only credential-stuffing: accounts %v, want %v", got, want["credential_stuffing"])
	}

	for _, format := range output.Formats {
		var out bytes.Buffer
		if err := output.Write(&out, format, rep.In(day.Location())); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if !strings.Contains(out.String(), "credential-stuffing") {
			t.Errorf("%s output lacks the rule:\n%s", format, out.String())
		}
	}
}

// sliceSource is a Source over events in memory, in order.
type sliceSource []*event.Event

func (s sliceSource) Replay(_ context.Context, from, to time.Time, opts history.ReplayOptions, fn func(*event.Event) error) (int64, error) {
	var n int64
	for _, e := range s {
		if (!from.IsZero() && e.Time.Before(from)) || (!to.IsZero() && !e.Time.Before(to)) ||
			(len(opts.Kinds) > 0 && !slices.Contains(opts.Kinds, e.Kind)) {
			continue
		}
		c := *e
		if err := fn(&c); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// A burst of failures before From and the success after it: only a warm-up covering the
// burst lets the window see it.
func TestBacktestWarmupAndKeyBound(t *testing.T) {
	from := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	var src sliceSource
	for i := range 25 {
		src = append(src, &event.Event{Kind: event.KindAuth, ID: "f" + string(rune('a'+i)), Time: from.Add(-5*time.Minute + time.Duration(i)*time.Second),
			Org: "o.no", User: "ola@o.no", Service: "lms", Result: "failure"})
	}
	src = append(src, &event.Event{Kind: event.KindAuth, ID: "s1", Time: from.Add(time.Minute), Org: "o.no", User: "ola@o.no", Service: "lms", Result: "success"})
	set := pack(t)
	for _, c := range []struct {
		warmup time.Duration
		alerts int64
	}{{0, 0}, {time.Minute, 0}, {backtest.AutoWarmup(set), 1}} {
		rep, err := backtest.Run(context.Background(), src, backtest.Options{From: from, To: from.Add(time.Hour), Rules: set, Warmup: c.warmup, Top: 5})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Alerts != c.alerts || rep.Events != 1 {
			t.Errorf("warm-up %s: %d alerts over %d events, want %d over 1", c.warmup, rep.Alerts, rep.Events, c.alerts)
		}
	}
	// Two accounts export in bulk: with room for one (rule, account) pair the report says so.
	exports := sliceSource{
		{Kind: event.KindAccess, ID: "x1", Time: from, Org: "o.no", Actor: "a@o.no", ActorRole: "staff", Action: "export", Subject: "s@o.no", Resource: "health", Service: "sas", Records: 900},
		{Kind: event.KindAccess, ID: "x2", Time: from.Add(time.Second), Org: "o.no", Actor: "b@o.no", ActorRole: "staff", Action: "export", Subject: "s@o.no", Resource: "health", Service: "sas", Records: 900},
	}
	rep, err := backtest.Run(context.Background(), exports, backtest.Options{From: from, To: from.Add(time.Hour), Rules: set, MaxKeys: 1, Top: 5,
		Only: []string{"bulk-export-sensitive"}})
	if err != nil || rep.Alerts != 2 || len(rep.Top) != 1 || !rep.KeysTruncated || rep.Rules[0].Accounts != 1 {
		t.Fatalf("two keys under MaxKeys 1: %+v %v", rep, err)
	}
	b, err := json.Marshal(rep)
	if err != nil || !strings.Contains(string(b), `"warmup":"0s"`) || !strings.Contains(string(b), `"duration_seconds":`) {
		t.Errorf("json: %s %v", b, err)
	}
}

func TestBacktestOptionErrors(t *testing.T) {
	set := pack(t)
	t0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	for name, o := range map[string]backtest.Options{
		"no rules":     {From: t0, To: t0.Add(time.Hour)},
		"empty range":  {From: t0, To: t0, Rules: set},
		"no from":      {To: t0, Rules: set},
		"unknown rule": {From: t0, To: t0.Add(time.Hour), Rules: set, Only: []string{"no-such-rule"}},
		"long warm-up": {From: t0, To: t0.Add(time.Hour), Rules: set, Warmup: 8 * 24 * time.Hour},
	} {
		if _, err := backtest.Run(context.Background(), sliceSource(nil), o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := output.Write(io.Discard, "xml", (&backtest.Report{}).In(nil)); err == nil {
		t.Error("unknown format accepted")
	}
}

// A cancelled run stops within a few thousand events and returns the context's error.
func TestBacktestCancelled(t *testing.T) {
	from := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	var src sliceSource
	for i := range 20_000 {
		src = append(src, &event.Event{Kind: event.KindAuth, ID: strconv.Itoa(i), Time: from.Add(time.Duration(i) * time.Millisecond),
			Org: "o.no", User: "ola@o.no", Service: "lms", Result: "failure"})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := backtest.Run(ctx, src, backtest.Options{From: from, To: from.Add(time.Hour), Rules: pack(t)}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: err = %v, want context.Canceled", err)
	}
}
