package deploy

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/api"
	"breachd/promreg"
	"breachd/rules"
)

// ruleEvents is the process's collector of breach_rules_rule_events_total{rule, outcome}: the
// counters of the detector engines' rules (rules.Engine.Stats) since start, summed per rule over
// the engines of the process. It is registered once per process (promreg); every detector adds
// its engine, which it keeps for the life of the process (as long as a detector runs). Rule ids
// are few and chosen by the operator, so the rule label is bounded.
type ruleEvents struct {
	desc *prometheus.Desc

	mu      sync.Mutex
	engines []*rules.Engine
}

// ruleOutcomes are the outcome label's values, with the counter of each.
var ruleOutcomes = []struct {
	name string
	of   func(rules.RuleStats) uint64
}{
	{"evaluated", func(s rules.RuleStats) uint64 { return s.Evaluated }},
	{"hit", func(s rules.RuleStats) uint64 { return s.Hits }},
	{"excepted", func(s rules.RuleStats) uint64 { return s.Excepted }},
	{"suppressed", func(s rules.RuleStats) uint64 { return s.Suppressed }},
	{"alert", func(s rules.RuleStats) uint64 { return s.Alerts }},
	{"error", func(s rules.RuleStats) uint64 { return s.Errors }},
}

// watchRuleEvents adds eng to the process's rule events collector in reg (registering it on
// first use). A nil reg counts nothing.
func watchRuleEvents(reg prometheus.Registerer, eng *rules.Engine) error {
	c, err := promreg.Register(reg, &ruleEvents{desc: prometheus.NewDesc("breach_rules_rule_events_total",
		"Events of each rule's kinds evaluated since start, and of them the hits, the hits dropped by an exception or folded into an earlier alert by suppression, the alerts raised and the expression errors, by rule and outcome.",
		[]string{"rule", "outcome"}, nil)})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.engines = append(c.engines, eng)
	c.mu.Unlock()
	return nil
}

// Describe implements prometheus.Collector.
func (c *ruleEvents) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *ruleEvents) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	engines := append([]*rules.Engine(nil), c.engines...)
	c.mu.Unlock()
	for _, s := range sumRuleStats(engines) {
		for _, o := range ruleOutcomes {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(o.of(s)), s.Rule, o.name)
		}
	}
}

// sumRuleStats sums the rules' counters over engines, per rule, in the order rules first appear.
func sumRuleStats(engines []*rules.Engine) []rules.RuleStats {
	var out []rules.RuleStats
	at := map[string]int{}
	for _, e := range engines {
		for _, s := range e.Stats() {
			i, ok := at[s.Rule]
			if !ok {
				at[s.Rule], i = len(out), len(out)
				out = append(out, rules.RuleStats{Rule: s.Rule})
			}
			o := &out[i]
			o.Evaluated += s.Evaluated
			o.Hits += s.Hits
			o.Excepted += s.Excepted
			o.Suppressed += s.Suppressed
			o.Alerts += s.Alerts
			o.Errors += s.Errors
		}
	}
	return out
}

// rulesStatus is api.Config.RulesStatus for the detector of this process: its engine's
// counters and its reloader's last load.
func rulesStatus(eng *rules.Engine, reloader *RuleReloader) func(context.Context) (api.RulesStatus, bool) {
	return func(context.Context) (api.RulesStatus, bool) {
		return api.RulesStatus{Rules: eng.Stats(), Reload: reloader.Status()}, true
	}
}
