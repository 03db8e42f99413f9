package channel

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"breachd/retry"
)

// Chat flavours.
const (
	FlavourSlack = "slack"
	FlavourTeams = "teams"
)

// Chat posts to a chat incoming webhook.
//
//   - Slack: an incoming webhook payload {"text": fallback, "blocks": [...]}; every block uses
//     plain_text, so account names or summaries cannot inject mrkdwn links or mentions.
//   - Teams: a Workflows "When a Teams webhook request is received" payload — a message with
//     one Adaptive Card (version 1.4) attachment. The Office 365 connector MessageCard format
//     is not sent: Microsoft retired those connectors and Workflows accept Adaptive Cards only.
//
// The webhook URL is a secret (its path holds the token); it never appears in errors.
type Chat struct {
	name    string
	flavour string
	url     string
	http    HTTPOptions
}

// NewChat returns a chat channel of the given flavour (FlavourSlack or FlavourTeams).
func NewChat(name, flavour, url string, opts HTTPOptions) (*Chat, error) {
	if flavour != FlavourSlack && flavour != FlavourTeams {
		return nil, fmt.Errorf("chat %s: unknown flavour %q (want slack or teams)", name, flavour)
	}
	if url == "" {
		return nil, fmt.Errorf("%s %s: no webhook url", flavour, name)
	}
	return &Chat{name: name, flavour: flavour, url: url, http: opts.withDefaults()}, nil
}

// Name returns the channel's configured name.
func (c *Chat) Name() string { return c.name }

// Send posts m once. See Channel for the error contract.
func (c *Chat) Send(ctx context.Context, m Message) error {
	var payload any
	if c.flavour == FlavourSlack {
		payload = SlackPayload(&m)
	} else {
		payload = TeamsPayload(&m)
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return retry.Permanent(fmt.Errorf("%s %s: encode: %w", c.flavour, c.name, err))
	}
	return c.http.post(ctx, c.flavour+" "+c.name, c.url, nil, body)
}

// Slack limits (Block Kit): header text 150, section text 3000, field 2000, button url 3000.
const (
	slackHeaderMax = 150
	slackTextMax   = 3000
	slackFieldMax  = 2000
	linkMax        = 3000
)

// SlackPayload renders m as a Slack incoming webhook body.
func SlackPayload(m *Message) map[string]any {
	head := heading(m)
	var fields []map[string]any
	for _, f := range facts(m) {
		if len(fields) == 10 { // Slack allows at most 10 fields per section
			break
		}
		fields = append(fields, map[string]any{"type": "plain_text", "text": clip(f.Name+": "+f.Value, slackFieldMax)})
	}
	blocks := []map[string]any{
		{"type": "header", "text": map[string]any{"type": "plain_text", "text": clip(head, slackHeaderMax)}},
		{"type": "section", "fields": fields},
	}
	if m.Text != "" {
		blocks = append(blocks, map[string]any{"type": "section",
			"text": map[string]any{"type": "plain_text", "text": clip(m.Text, slackTextMax)}})
	}
	if m.Link != "" && len(m.Link) <= linkMax {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": []map[string]any{{
			"type": "button", "text": map[string]any{"type": "plain_text", "text": "Open incident"}, "url": m.Link,
		}}})
	}
	// The top-level text is the notification fallback and is read as mrkdwn: escape it.
	return map[string]any{"text": slackEscape(clip(head, slackTextMax)), "blocks": blocks}
}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func slackEscape(s string) string { return slackEscaper.Replace(s) }

// TeamsPayload renders m as a Teams Workflows webhook body with one Adaptive Card.
func TeamsPayload(m *Message) map[string]any {
	var fs []map[string]any
	for _, f := range facts(m) {
		fs = append(fs, map[string]any{"title": f.Name, "value": f.Value})
	}
	color := "Default"
	if m.Severity.Rank() >= 3 {
		color = "Attention"
	}
	body := []map[string]any{
		{"type": "TextBlock", "text": heading(m), "weight": "Bolder", "size": "Medium", "wrap": true, "color": color},
		{"type": "FactSet", "facts": fs},
	}
	if m.Text != "" {
		body = append(body, map[string]any{"type": "TextBlock", "text": clip(m.Text, slackTextMax), "wrap": true})
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body":    body,
	}
	if m.Link != "" {
		card["actions"] = []map[string]any{{"type": "Action.OpenUrl", "title": "Open incident", "url": m.Link}}
	}
	return map[string]any{
		"type": "message",
		"attachments": []map[string]any{{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	}
}
