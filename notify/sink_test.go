package notify

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"breachd/event"
)

func TestConsoleSink(t *testing.T) {
	inc := &event.Incident{
		ID: "INC-20261102-0a1b2c3d", Org: "bergen.kommune.no", Account: "ola@bergen.kommune.no",
		Severity: event.SeverityCritical, Deadline: time.Date(2026, 11, 5, 9, 1, 30, 0, time.FixedZone("CET", 3600)),
		Summary: "guardian with a visiting ban opened the child's \"family\" record", AlertCount: 7,
	}
	a := &event.Alert{ID: "al-1", RuleID: "guardian-blocked-access", Severity: event.SeverityCritical,
		Summary: "second access\nwith a newline"}
	for _, tc := range []struct {
		name string
		ch   Change
		want string
	}{
		{"opened", Change{Kind: ChangeOpened, Incident: inc, Alert: a, Ref: event.AlertRef{Version: 1}},
			`INCIDENT INC-20261102-0a1b2c3d opened  critical  bergen.kommune.no  ola@bergen.kommune.no  ` +
				`rule=guardian-blocked-access  "guardian with a visiting ban opened the child's \"family\" record"  ` +
				"deadline 2026-11-05T08:01Z\n"},
		{"plain update says nothing", Change{Kind: ChangeUpdated, Incident: inc, Alert: a, Ref: event.AlertRef{Version: 2}}, ""},
		{"escalated", Change{Kind: ChangeUpdated, Incident: inc, Alert: a,
			Ref: event.AlertRef{Version: 7, RaisedFrom: event.SeverityHigh}},
			`INCIDENT INC-20261102-0a1b2c3d escalated  high -> critical  bergen.kommune.no  ola@bergen.kommune.no  ` +
				`rule=guardian-blocked-access  alerts=7  "second access\nwith a newline"` + "\n"},
		{"deactivation requested", Change{Kind: ChangeUpdated, Incident: inc, Alert: a,
			Ref: event.AlertRef{Version: 3, Respond: true}},
			"INCIDENT INC-20261102-0a1b2c3d deactivation requested (pending)  bergen.kommune.no  " +
				"ola@bergen.kommune.no  rule=guardian-blocked-access\n"},
		{"deadline warning", Change{Kind: ChangeEscalation, Incident: inc, Actor: "notify", Mark: "24h"},
			"INCIDENT INC-20261102-0a1b2c3d deadline warning 24h  not reported, due 2026-11-05T08:01Z  " +
				"bergen.kommune.no  ola@bergen.kommune.no\n"},
		{"a comment says nothing", Change{Kind: ChangeComment, Incident: inc, Actor: "kari"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := NewConsoleSink(&b).Notify(context.Background(), tc.ch); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got  %q\nwant %q", b.String(), tc.want)
			}
		})
	}
}

func TestConsoleSinkWriteError(t *testing.T) {
	inc := &event.Incident{ID: "INC-20261102-0a1b2c3d", Severity: event.SeverityLow}
	err := NewConsoleSink(failingWriter{}).Notify(context.Background(),
		Change{Kind: ChangeOpened, Incident: inc, Alert: &event.Alert{}})
	if err == nil || !strings.Contains(err.Error(), "console sink") {
		t.Fatalf("err = %v", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

// lockedBuffer is a bytes.Buffer the test can read while the notifier writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) lines(substr string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for l := range strings.Lines(b.b.String()) {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}
