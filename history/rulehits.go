package history

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// RuleHit is how often one rule fired in one time bucket: counts only, no account, so a rule
// author sees a rule's behaviour without seeing whom it concerned.
type RuleHit struct {
	Rule     string
	Bucket   time.Time // the bucket's start (buckets are aligned to the Unix epoch)
	Alerts   uint64    // alerts of the rule whose event fell in the bucket
	Accounts uint64    // distinct accounts among them
	// Suppressed is the hits suppression folded into those alerts (event.Alert.Suppressed).
	Suppressed uint64
}

// RuleHitColumns are the columns of RuleHit.Row.
var RuleHitColumns = []string{"rule", "bucket", "alerts", "accounts", "suppressed"}

// Row is h under RuleHitColumns.
func (h RuleHit) Row() []any { return []any{h.Rule, h.Bucket, h.Alerts, h.Accounts, h.Suppressed} }

// Bounds of RuleHits.
const (
	MinRuleHitBucket = time.Minute
	MaxRuleHitRows   = 100000 // buckets × rules
)

// RuleHits returns, per rule and bucket of the given length, the alerts whose event time is in
// [from, to), their distinct accounts and the hits suppressed into them, by bucket and rule. It reads the alerts table with
// FINAL (a redelivered alert counts once) in one parameterised query.
func (s *Store) RuleHits(ctx context.Context, from, to time.Time, bucket time.Duration) ([]RuleHit, error) {
	switch {
	case from.IsZero() || to.IsZero() || !from.Before(to):
		return nil, fmt.Errorf("rule hits: from (%s) must be before to (%s)", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	case bucket < MinRuleHitBucket || bucket%time.Second != 0:
		return nil, fmt.Errorf("rule hits: bucket %s must be whole seconds and at least %s", bucket, MinRuleHitBucket)
	}
	p := windowParams(from, to)
	p["bucket"] = strconv.FormatInt(int64(bucket/time.Second), 10)
	p["limit"] = strconv.Itoa(MaxRuleHitRows)
	return queryAll(withParams(ctx, p), s.conn, "rule hits", `SELECT rule_id, toStartOfInterval(event_time, toIntervalSecond({bucket:UInt32})) AS b,
		count(), uniqExact(account), sum(suppressed)
		FROM alerts FINAL
		WHERE event_time >= {from_t:DateTime64(3, 'UTC')} AND event_time < {to_t:DateTime64(3, 'UTC')}
		GROUP BY rule_id, b ORDER BY b, rule_id LIMIT {limit:UInt32}`, func(h *RuleHit) []any {
		return []any{&h.Rule, &h.Bucket, &h.Alerts, &h.Accounts, &h.Suppressed}
	})
}
