package api

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"breachd/auth"
	"breachd/backtest"
	"breachd/history"
	"breachd/output"
	"breachd/rules"
)

// rulesList lists the loaded rules (the server's pack) as `breachd rules list` does, with two
// columns more for the console: TITLE and TESTS (the rule's fixtures).
func (s *Server) rulesList(_ http.ResponseWriter, r *http.Request, _ *auth.Principal) (any, error) {
	q := newQuery(r)
	pg := q.page()
	if q.err != nil {
		return nil, q.err
	}
	set, err := rules.LoadPack(s.cfg.Rules)
	if err != nil {
		return nil, err
	}
	list := set.Rules()
	t := rules.Listing(list).Rows() // a row per rule, in order
	t.Columns = append(slices.Clone(t.Columns), "TITLE", "TESTS")
	for i, rl := range list {
		t.Rows[i] = append(t.Rows[i], rl.Title, rl.Tests)
	}
	return rowsPage(t, pg), nil
}

// rulesHits is the stored alerts per rule and time bucket: counts only, no accounts.
func (s *Server) rulesHits(_ http.ResponseWriter, r *http.Request, _ *auth.Principal) (any, error) {
	q := newQuery(r)
	to := q.time("to", q.now.UTC())
	from := q.time("from", to.Add(-7*24*time.Hour))
	bucket := q.str("bucket")
	pg := q.page()
	if q.err != nil {
		return nil, q.err
	}
	b := 24 * time.Hour
	if bucket != "" {
		var err error
		if b, err = time.ParseDuration(bucket); err != nil || b < time.Minute || b > 31*24*time.Hour || b%time.Second != 0 {
			return nil, badRequest("bucket: want whole seconds from 1m to 744h, such as 1h")
		}
	}
	if !from.Before(to) {
		return nil, badRequest("from must be before to")
	}
	hits, err := s.cfg.History.RuleHits(r.Context(), from, to, b)
	if err != nil {
		return nil, err
	}
	return rowsPage(output.RowsOf(history.RuleHitColumns, hits, history.RuleHit.Row), pg), nil
}

// RulesStatus is what the detector of this process has done since start (Config.RulesStatus).
type RulesStatus struct {
	Rules  []rules.RuleStats // per rule of the running set (rules.Engine.Stats of the process's detector)
	Reload RulesReload
}

// RulesReload is the last load of the rule files: at start, then each reload's.
type RulesReload struct {
	At     time.Time
	Cause  string // "start", "signal" (SIGHUP) or "file change"
	OK     bool   // compiled and swapped in; false: the previous set was kept
	Errors []*rules.CompileError
	// Message is why a load failed that was no compile error (a file could not be read).
	Message string
	Rules   int // rules of the set the engines run
}

// ruleStatus is one rule's counters in GET /api/rules/status.
type ruleStatus struct {
	Rule       string `json:"rule"`
	Evaluated  uint64 `json:"evaluated"`
	Hits       uint64 `json:"hits"`
	Excepted   uint64 `json:"excepted"`
	Suppressed uint64 `json:"suppressed"`
	Alerts     uint64 `json:"alerts"`
	Errors     uint64 `json:"errors"`
}

// reloadStatus is RulesReload in GET /api/rules/status.
type reloadStatus struct {
	At      time.Time   `json:"at"`
	Cause   string      `json:"cause"`
	Result  string      `json:"result"` // ok or error
	Errors  []ruleError `json:"errors"`
	Message string      `json:"message,omitempty"`
	Rules   int         `json:"rules"`
}

// rulesStatusAnswer is the answer of GET /api/rules/status.
type rulesStatusAnswer struct {
	Available bool          `json:"available"`
	Message   string        `json:"message,omitempty"` // where the figures are when not available
	Rules     []ruleStatus  `json:"rules"`
	Reload    *reloadStatus `json:"reload"`
}

// rulesStatus answers the live figures of the detector in this process, or available false
// when it runs elsewhere (`breachd serve`): its /metrics has them.
func (s *Server) rulesStatus(_ http.ResponseWriter, r *http.Request, _ *auth.Principal) (any, error) {
	out := rulesStatusAnswer{Rules: []ruleStatus{}}
	var st RulesStatus
	if s.cfg.RulesStatus != nil {
		st, out.Available = s.cfg.RulesStatus(r.Context())
	}
	if !out.Available {
		out.Message = "no detector runs in this API's process: its figures are on the detector's /metrics " +
			"(breach_rules_rule_events_total, breach_rules_last_reload_success, breach_rules_last_reload_timestamp_seconds)"
		return out, nil
	}
	for _, rs := range st.Rules {
		out.Rules = append(out.Rules, ruleStatus{Rule: rs.Rule, Evaluated: rs.Evaluated, Hits: rs.Hits, Excepted: rs.Excepted,
			Suppressed: rs.Suppressed, Alerts: rs.Alerts, Errors: rs.Errors})
	}
	rl := st.Reload
	out.Reload = &reloadStatus{At: rl.At.UTC(), Cause: rl.Cause, Result: "ok", Errors: ruleErrors(rl.Errors), Message: rl.Message, Rules: rl.Rules}
	if !rl.OK {
		out.Reload.Result = "error"
	}
	return out, nil
}

// ruleErrors are ces as the API shows them.
func ruleErrors(ces []*rules.CompileError) []ruleError {
	out := make([]ruleError, 0, len(ces))
	for _, ce := range ces {
		out = append(out, ruleError{File: ce.File, Line: ce.Line, Column: ce.Column, Rule: ce.Rule, Message: ce.Msg})
	}
	return out
}

// Limits of POST /api/rules/check.
const (
	maxCheckFiles    = 50
	maxCheckFileName = 128
)

// ruleError is a compile error of a checked rule file.
type ruleError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// checked is the answer of POST /api/rules/check: the compile errors, or the rules'
// count, the warnings of lint and the fixtures' results of test.
type checked struct {
	OK       bool              `json:"ok"`
	Errors   []ruleError       `json:"errors"`
	Rules    int               `json:"rules"`
	Warnings []string          `json:"warnings"`
	Tests    *rules.TestReport `json:"tests"`
}

// rulesCheck compiles the rule files of the body (lint) and runs their fixtures (test), as
// `breachd rules lint` and `breachd rules test` do; nothing is stored or loaded.
func (s *Server) rulesCheck(_ http.ResponseWriter, r *http.Request, _ *auth.Principal) (any, error) {
	var b struct {
		Files map[string]string `json:"files"`
	}
	if err := decode(r, &b); err != nil {
		return nil, err
	}
	if len(b.Files) == 0 || len(b.Files) > maxCheckFiles {
		return nil, badRequest("files: want 1 to %d rule files, name → YAML text", maxCheckFiles)
	}
	for name := range b.Files {
		if err := checkName("file name", name); err != nil {
			return nil, err
		}
		if len(name) > maxCheckFileName {
			return nil, badRequest("file name: at most %d bytes", maxCheckFileName)
		}
	}
	set, errs := parseRuleFiles(b.Files)
	out := checked{Errors: errs, Warnings: []string{}}
	if set == nil {
		return out, nil
	}
	out.OK, out.Rules = true, set.Len()
	for _, rl := range set.Rules() {
		if rl.Tests == 0 {
			out.Warnings = append(out.Warnings, rl.File+": rule "+rl.ID+": no tests (add fixtures under tests:, see docs/rules.md)")
		}
	}
	rep := rules.NewTestReport(rules.RunTests(set))
	out.Tests, out.OK = &rep, rep.Failed == 0
	return out, nil
}

// parseRuleFiles compiles files (name → YAML) into one set, or returns every compile error in
// file and position order.
func parseRuleFiles(files map[string]string) (*rules.Set, []ruleError) {
	var sets []*rules.Set
	var errs []ruleError
	add := func(err error) {
		ces := rules.CompileErrors(err)
		if len(ces) == 0 {
			errs = append(errs, ruleError{Message: err.Error()})
		}
		errs = append(errs, ruleErrors(ces)...)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		set, err := rules.Parse(n, []byte(files[n]))
		if err != nil {
			add(err)
			continue
		}
		sets = append(sets, set)
	}
	if len(errs) == 0 {
		set, err := rules.Merge(sets...)
		if err == nil {
			return set, []ruleError{}
		}
		add(err)
	}
	slices.SortStableFunc(errs, func(a, b ruleError) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return nil, errs
}

// rulesBacktest replays stored history through the server's rules (or those of rule_text) as
// `breachd rules backtest` does. Accounts in the report (top pairs, examples) are shown only
// for organisations the caller may look up (ScopeFor(HistoryLookup)); otherwise only counts.
// Asked with Accept: application/x-ndjson, it streams the run's progress (streamBacktest).
func (s *Server) rulesBacktest(w http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	var b struct {
		From     string   `json:"from"`
		To       string   `json:"to"`
		Rules    []string `json:"rules"`
		RuleText string   `json:"rule_text"`
		Top      *int     `json:"top"`
		Warmup   string   `json:"warmup"`
		TZ       string   `json:"tz"` // the zone of localHour() in rules (default Europe/Oslo, as the CLI's)
	}
	if err := decode(r, &b); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	opts := backtest.Options{Only: b.Rules, Top: 20, Logger: s.log} // Location nil: Europe/Oslo
	if b.TZ != "" {
		loc, err := time.LoadLocation(b.TZ) // refuses "..", absolute paths
		if err != nil {
			return nil, badRequest("tz: want an IANA time zone such as Europe/Oslo")
		}
		opts.Location = loc
	}
	from, err := timeOf("from", b.From, now, time.Time{})
	if err == nil {
		opts.From = from
		opts.To, err = timeOf("to", b.To, now, now)
	}
	switch {
	case err != nil:
		return nil, err
	case opts.From.IsZero():
		return nil, badRequest("from: the start of the range is required")
	case !opts.From.Before(opts.To):
		return nil, badRequest("from must be before to")
	case b.Top != nil && (*b.Top < 0 || *b.Top > 1000):
		return nil, badRequest("top: want 0 to 1000")
	case b.Top != nil:
		opts.Top = *b.Top
	}
	if strings.TrimSpace(b.RuleText) != "" {
		var errs []ruleError
		if opts.Rules, errs = parseRuleFiles(map[string]string{"rule_text.yaml": b.RuleText}); opts.Rules == nil {
			return nil, badRequest("rule_text does not compile: %s:%d:%d: %s", errs[0].File, errs[0].Line, errs[0].Column, errs[0].Message)
		}
		// A rule of one's own can ask about one person (its counts answer): audited like a
		// lookup, before anything is read.
		ask := asker(p, "backtest of an edited rule", "")
		detail := fmt.Sprintf("window=[%s, %s) rule_text=%s", opts.From.Format(time.RFC3339), opts.To.Format(time.RFC3339), b.RuleText)
		if err := s.cfg.History.Audit(r.Context(), ask.Entry(history.AuditBacktest, "", "", detail)); err != nil {
			return nil, fmt.Errorf("backtest refused, %w: %w", history.ErrAudit, err)
		}
	} else if opts.Rules, err = rules.LoadPack(s.cfg.Rules); err != nil {
		return nil, err
	}
	for _, id := range b.Rules {
		if _, ok := opts.Rules.Rule(id); !ok {
			return nil, badRequest("rules: no rule %q", id)
		}
	}
	if opts.Warmup = backtest.AutoWarmup(opts.Rules); b.Warmup != "" {
		if opts.Warmup, err = time.ParseDuration(b.Warmup); err != nil || opts.Warmup < 0 {
			return nil, badRequest("warmup: want a duration such as 10m or 2h")
		}
	}
	opts.Lookup = s.cfg.History
	if wantsNDJSON(r) {
		s.streamBacktest(w, r, p, opts)
		return nil, nil
	}
	rep, err := backtest.Run(r.Context(), s.cfg.History, opts)
	if err != nil {
		return nil, err
	}
	redactAccounts(rep, p)
	return rep, nil
}

// ndjson is the media type of a streamed backtest.
const ndjson = "application/x-ndjson"

// wantsNDJSON is whether r asks for the streamed answer.
func wantsNDJSON(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mt), ndjson) {
				return true
			}
		}
	}
	return false
}

// backtestProgress is a progress line of a streamed backtest (backtest.Progress).
type backtestProgress struct {
	Phase          string     `json:"phase"` // directory, warm-up or replay
	Events         int64      `json:"events"`
	Planned        int64      `json:"planned"` // an upper bound of the phase's events; 0 if unknown
	EventTime      *time.Time `json:"event_time,omitempty"`
	ElapsedSeconds float64    `json:"elapsed_seconds"`
	Done           bool       `json:"done"` // the phase's last line
}

// backtestProgressEvery is how often a streamed backtest reports progress within a phase.
const backtestProgressEvery = time.Second

// streamBacktest runs the checked backtest opts and writes its answer as NDJSON: one
// {"progress": …} line per progress step (about every second, and at the end of each phase),
// then {"result": <the report, as the plain answer>} or {"error": {"code", "message"}}. The
// status is 200 once the first line is out; errors found before the run are answered as usual.
func (s *Server) streamBacktest(w http.ResponseWriter, r *http.Request, p *auth.Principal, opts backtest.Options) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", ndjson)
	w.WriteHeader(http.StatusOK)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	failed := false // a write failed: the client is gone or stopped reading; the run ends
	line := func(v any) {
		if failed {
			return
		}
		// A client that stopped reading must not hold the run (Progress is called on its
		// goroutine): each line gets streamWriteTimeout, and a failed write ends the run.
		b, err := json.Marshal(v) // HTML escaped, as json.Encoder did
		if err == nil {
			err = writeFlushed(rc, w, append(b, '\n'))
		}
		if err != nil {
			failed = true
			cancel()
		}
	}
	opts.ProgressEvery = backtestProgressEvery
	opts.Progress = func(pr backtest.Progress) { // on this goroutine: Run calls it from its own
		bp := backtestProgress{Phase: pr.Phase, Events: pr.Events, Planned: pr.Planned, ElapsedSeconds: pr.Elapsed.Seconds(), Done: pr.Done}
		if !pr.EventTime.IsZero() {
			at := pr.EventTime.UTC()
			bp.EventTime = &at
		}
		line(map[string]any{"progress": bp})
	}
	rep, err := backtest.Run(ctx, s.cfg.History, opts)
	if err != nil {
		ae := s.errorOf(r, err)
		line(map[string]any{"error": map[string]string{"code": ae.code, "message": ae.message}})
		return
	}
	redactAccounts(rep, p)
	line(map[string]any{"result": rep})
}

// redactAccounts removes from rep the accounts of organisations p may not look up: their top
// pairs and their example alerts (whose summaries name them). The counts stay.
func redactAccounts(rep *backtest.Report, p *auth.Principal) {
	scope := p.ScopeFor(auth.HistoryLookup)
	if scope.All {
		return
	}
	rep.Top = slices.DeleteFunc(rep.Top, func(k backtest.KeySummary) bool { return !scope.Contains(history.Realm(k.Account)) })
	for i := range rep.Rules {
		rep.Rules[i].Examples = slices.DeleteFunc(rep.Rules[i].Examples, func(e backtest.Example) bool {
			return !scope.Contains(history.Realm(e.Account))
		})
	}
}
