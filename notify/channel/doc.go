// Package channel sends incident notifications to people and systems: signed JSON webhooks,
// Slack and Teams incoming webhooks, e-mail over SMTP with TLS, and a NATS subject. A
// Dispatcher routes each Message by severity, org, tags and kind to named channels and
// delivers it with bounded retries, at most once per (channel, Message.Key) while its dedup
// record lives.
//
// It does not decide when to send: package notify does, with one announcer per channel (a
// durable consumer of the INCIDENTS stream) that calls DispatchTo for each incident change,
// and its clock decides when deadline escalations are due. ChangeMessages, DeadlineMessage and
// TransitionMessage build the Messages (and their dedup keys), so that one incident pages once
// when opened, once per severity rise, once for a deactivation request and once per deadline
// mark — not once per alert. It imports event and bus only, never notify.
//
// Not done here: hot reload (build a new Dispatcher and swap it; metrics are shared), a
// plaintext SMTP mode, Office 365 connector MessageCards, per-route grouping or throttling
// beyond the dedup key, and rendering of Teams/Slack text beyond plain text.
//
// # Configuration
//
// LoadConfig and ParseConfig read YAML, strictly (unknown keys are errors), and return errors
// that name the file, line and key:
//
//	link_base: https://breachd.example.org        # adds <link_base>/incidents/<id>
//	retry: {max_attempts: 6, initial: 1s, max: 1m, max_elapsed: 5m, attempt_timeout: 15s}
//	channels:
//	  - name: soc-hook
//	    webhook: {url: "https://soc.example.org/hook", secret_env: BREACHD_HOOK_SECRET}
//	  - name: soc-slack
//	    slack: {url_file: /run/secrets/slack_url}     # or url_env, or url
//	  - name: soc-teams
//	    teams: {url_env: BREACHD_TEAMS_URL}           # a Workflows webhook URL
//	  - name: soc-mail
//	    email: {host: smtp.example.org, port: 587, tls: starttls, username: breachd,
//	            password_file: /run/secrets/smtp, from: "breachd <breachd@example.org>",
//	            to: [soc@example.org], ca_file: /etc/ssl/internal-ca.pem}
//	  - name: bus
//	    nats: {subject_prefix: breachd.notifications}   # core: true for core NATS
//	routes:                              # tried in order; the first match stops unless continue
//	  - {kinds: ["*"], channels: [bus], continue: true}
//	  - {min_severity: high, orgs: ["*.kommune.no"], channels: [soc-slack, soc-mail]}
//	  - {tags: [protected-identity], kinds: ["opened", "deadline-*"], channels: [soc-mail]}
//	default: {channels: [soc-mail]}      # when no route matched; required
//
// Secrets (webhook signing secret, SMTP password, chat webhook URLs) come from an environment
// variable or a file; the signing secret and password cannot be written inline. A secret file
// that its group or others may access is refused (package secretfile: chmod 600 FILE). Secrets
// never appear in errors or logs: HTTP errors are stripped of the request URL.
//
// # Delivery guarantees
//
// Dispatch sends to every selected channel in parallel and waits for all of them. Per channel
// it makes up to max_attempts attempts, each bounded by attempt_timeout, with exponential
// backoff and jitter (a Retry-After the destination sends is honoured when longer), and starts
// no attempt after max_elapsed. An error marked retry.Permanent (HTTP 4xx other than 408, 425
// and 429, SMTP 5xx, an untrusted certificate, a server without STARTTLS) stops the retries at
// once. At most PerChannel sends run at once per channel, so a slow channel delays only itself;
// the caller's context bounds everything.
//
// Deduplication: before the first attempt the Dispatcher claims "<channel>.<hash of Key>" in
// the KV bucket "notifications" (EnsureBucket; TTL 7 days) with Create. Only the claimer
// sends; after success the record becomes "delivered" and later Dispatches of that Key to
// that channel — a redelivered alert, a restarted notifier, a second notifier — send nothing.
// A failed delivery deletes its claim so a later Dispatch may try again. The guarantee is
// at-least-once, not exactly-once:
//
//   - a crash between the destination accepting the message and the "delivered" record leaves
//     a claim that is taken over once its lease (max_elapsed + attempt_timeout + 1 min) runs
//     out: that message may be sent twice;
//   - a Dispatch of the same Key while another one is still sending it (or within the lease of
//     a crashed sender) sends nothing and returns nil: if the other sender then fails, the
//     message is delivered only when the Key is dispatched again. DispatchTo returns a
//     transient error wrapping ErrInFlight instead, so a caller that retries until nil (notify's
//     announcers) delivers it once the claim is released or its lease ran out;
//   - if the bucket cannot be reached the message is sent anyway (a missed page is worse than a
//     duplicate) and counted as dedup_error;
//   - after the bucket's TTL a Key is forgotten and would be delivered again.
//
// Receivers can deduplicate too: every attempt of a Key carries the same delivery id
// (X-Breachd-Delivery, the e-mail Message-ID, Nats-Msg-Id).
//
// # Channels
//
// Webhook posts WebhookPayload as JSON with X-Breachd-Signature = "sha256=" + hex HMAC-SHA256
// of "<X-Breachd-Timestamp>.<body>"; receivers check it with VerifySignature. Slack gets Block
// Kit blocks in plain_text (no mrkdwn injection from account names). Teams gets one Adaptive
// Card 1.4 in the Workflows webhook envelope; Office 365 connector MessageCards are retired
// and not supported. Email sends one text/plain UTF-8 quoted-printable message per
// notification over STARTTLS or implicit TLS (never plaintext), with AUTH PLAIN if a username
// is set, over a new connection each time. NATS publishes the WebhookPayload JSON on
// <subject_prefix>.<kind> (default breachd.notifications.<kind>), with JetStream (PubAck
// awaited, Nats-Msg-Id = delivery id; needs a stream on the subjects, EnsureStream) or core
// NATS (fire and forget after a flush).
//
// # Metrics
//
// breach_notify_channel_sends_total{channel,result}, breach_notify_channel_retries_total{channel},
// breach_notify_channel_attempt_seconds{channel}. Channel names come from the configuration,
// so the label cardinality is bounded.
package channel
