package channel

import (
	"slices"
	"testing"

	"breachd/event"
)

func TestRouterChannels(t *testing.T) {
	r := Router{
		Routes: []Route{
			{Match: Match{Kinds: []string{"*"}}, Channels: []string{"bus"}, Continue: true},
			{Match: Match{MinSeverity: event.SeverityCritical}, Channels: []string{"pager", "mail"}},
			{Match: Match{MinSeverity: event.SeverityHigh, Orgs: []string{"*.kommune.no"}}, Channels: []string{"slack"}},
			{Match: Match{Tags: []string{"protected-identity", "guardian"}, Kinds: []string{"opened", "deadline-*"}}, Channels: []string{"mail"}, Continue: true},
			{Match: Match{Orgs: []string{"uio.no"}}, Channels: []string{"uio-hook", "bus"}},
		},
		Default: []string{"mail"},
	}
	msg := func(sev event.Severity, org, kind string, tags ...string) Message {
		return Message{Key: "k", Kind: kind, Severity: sev, Org: org, Tags: tags}
	}
	cases := []struct {
		name string
		m    Message
		want []string
	}{
		{"critical stops after its route", msg(event.SeverityCritical, "uio.no", "opened", "guardian"), []string{"bus", "pager", "mail"}},
		{"high in a kommune", msg(event.SeverityHigh, "baerum.kommune.no", "opened"), []string{"bus", "slack"}},
		{"high elsewhere falls through", msg(event.SeverityHigh, "uio.no", "opened"), []string{"bus", "uio-hook"}},
		{"medium in a kommune: severity too low", msg(event.SeverityMedium, "oslo.kommune.no", "opened"), []string{"bus"}},
		{"org glob does not match a suffix only", msg(event.SeverityHigh, "kommune.no", "opened"), []string{"bus"}},
		{"tag and kind glob, continue", msg(event.SeverityLow, "uio.no", "deadline-48h", "guardian"), []string{"bus", "mail", "uio-hook"}},
		{"tag matches, kind does not", msg(event.SeverityLow, "ntnu.no", "transition", "guardian"), []string{"bus"}},
		{"any of the tags", msg(event.SeverityLow, "ntnu.no", "opened", "x", "protected-identity"), []string{"bus", "mail"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := r.Channels(&c.m); !slices.Equal(got, c.want) {
				t.Fatalf("channels = %v, want %v", got, c.want)
			}
		})
	}
	t.Run("default when nothing matched", func(t *testing.T) {
		r := Router{Routes: []Route{{Match: Match{Orgs: []string{"uio.no"}}, Channels: []string{"hook"}}}, Default: []string{"mail"}}
		m := msg(event.SeverityLow, "ntnu.no", "opened")
		if got := r.Channels(&m); !slices.Equal(got, []string{"mail"}) {
			t.Fatalf("channels = %v", got)
		}
		m.Org = "uio.no"
		if got := r.Channels(&m); !slices.Equal(got, []string{"hook"}) {
			t.Fatalf("channels = %v, want only the matching route (no default)", got)
		}
	})
}
