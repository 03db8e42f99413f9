package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/event"
	"breachd/ingest/dlq"
	"breachd/notify"
)

// natsWatch is a slog handler that keeps what the embedded server logs about permission
// violations of the pipeline user, and what a client logging to it (bus.Connect) is told
// about its own, so that a test can fail when the pipeline was refused something it needs
// (a refused publish is otherwise only a timeout, or nothing at all).
type natsWatch struct {
	slog.Handler
	mu   *sync.Mutex
	seen *[]string
}

// watchNATS returns log teeing into a natsWatch, and fails t at its end if a permission
// violation was logged.
func watchNATS(t *testing.T, log *slog.Logger) *slog.Logger {
	w := natsWatch{Handler: log.Handler(), mu: &sync.Mutex{}, seen: new([]string)}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, s := range *w.seen {
			t.Errorf("nats refused the pipeline something: %s", s)
		}
	})
	return slog.New(w)
}

// Enabled lets errors through even when the wrapped handler drops them (a quiet test logger),
// so that the violations, which the server and the client log at ERROR, are seen.
func (w natsWatch) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || w.Handler.Enabled(ctx, l)
}

func (w natsWatch) Handle(ctx context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	line := b.String()
	if strings.Contains(strings.ToLower(line), "violation") && (r.Message == "nats" || strings.Contains(line, "user:"+NATSPipeline+`"`)) {
		w.mu.Lock()
		*w.seen = append(*w.seen, b.String())
		w.mu.Unlock()
	}
	if !w.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return w.Handler.Handle(ctx, r)
}

func (w natsWatch) WithAttrs(as []slog.Attr) slog.Handler {
	return natsWatch{Handler: w.Handler.WithAttrs(as), mu: w.mu, seen: w.seen}
}

func (w natsWatch) WithGroup(name string) slog.Handler {
	return natsWatch{Handler: w.Handler.WithGroup(name), mu: w.mu, seen: w.seen}
}

// adminJS connects to in's embedded server as NATSAdmin, for test set-up the pipeline may not
// do (purging streams, deleting its consumers).
func adminJS(t *testing.T, in *Infra) jetstream.JetStream {
	t.Helper()
	nc, js, err := bus.Connect(in.natsSrv.ClientURL(), "test-admin", testLogger(t), in.natsUsers.Admin.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return js
}

// startTestNATS starts the embedded server on dataDir with the streams (bus.Ensure, as the
// pipeline), and returns it, its users and the pipeline's JetStream. With watch, a permission
// violation of the pipeline user fails t.
func startTestNATS(t *testing.T, dataDir string, watch bool) (*bus.Embedded, NATSUsers, jetstream.JetStream) {
	t.Helper()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	log := testLogger(t)
	if watch {
		log = watchNATS(t, log)
	}
	srv, users, err := StartEmbeddedNATS(dataDir, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, js, err := bus.Connect(srv.ClientURL(), "test-pipeline", testLogger(t), users.Pipeline.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Ensure(ctx, js, bus.Config{}); err != nil {
		t.Fatal(err)
	}
	return srv, users, js
}

// prober is a connection that tells a refused publish or subscription from an allowed one.
type prober struct {
	nc   *nats.Conn
	errs chan error
}

func connectProber(t *testing.T, url string, c bus.Credential) *prober {
	t.Helper()
	p := &prober{errs: make(chan error, 64)}
	var err error
	p.nc, err = nats.Connect(url, append(c.Options(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		p.errs <- err
	}))...)
	if err != nil {
		t.Fatalf("connect as %q: %v", c.User, err)
	}
	t.Cleanup(p.nc.Close)
	return p
}

// publish sends data on subject as a request and says whether the server let it through: a
// reply (from JetStream, even an error) means yes, a permissions violation means no.
func (p *prober) publish(t *testing.T, subject string, data []byte) bool {
	t.Helper()
	replies := make(chan *nats.Msg, 1)
	inbox := p.nc.NewInbox()
	sub, err := p.nc.ChanSubscribe(inbox, replies)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := p.nc.PublishRequest(subject, inbox, data); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case <-replies:
			return true
		case err := <-p.errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), fmt.Sprintf("%q", subject)) {
				return false
			}
			t.Fatalf("publish %s: unexpected error %v", subject, err)
		case <-timeout:
			t.Fatalf("publish %s: neither a reply nor a refusal in 10 s", subject)
		}
	}
}

// subscribe says whether the server accepts a subscription to subject.
func (p *prober) subscribe(t *testing.T, subject string) bool {
	t.Helper()
	sub, err := p.nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select { // the -ERR comes before the PONG Flush waited for; its handler runs a moment later
	case err := <-p.errs:
		if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), fmt.Sprintf("%q", subject)) {
			return false
		}
		t.Fatalf("subscribe %s: unexpected error %v", subject, err)
	case <-time.After(500 * time.Millisecond):
	}
	return true
}

// TestEmbeddedNATSRefusesAnonymous: without a credential, or with a wrong one, nobody gets in.
func TestEmbeddedNATSRefusesAnonymous(t *testing.T) {
	srv, users, _ := startTestNATS(t, filepath.Join(t.TempDir(), "data"), true)
	wrong := users.Operator
	wrong.Password = strings.Repeat("0", len(wrong.Password))
	for name, opts := range map[string][]nats.Option{
		"no credential":  nil,
		"wrong password": wrong.Options(),
		"unknown user":   bus.Credential{User: "mallory", Password: users.Admin.Password}.Options(),
	} {
		t.Run(name, func(t *testing.T) {
			nc, err := nats.Connect(srv.ClientURL(), opts...)
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			if !errors.Is(err, nats.ErrAuthorization) {
				t.Errorf("err = %v, want %v", err, nats.ErrAuthorization)
			}
		})
	}
}

// TestNATSPermissions probes what each role may publish and subscribe to on the real server.
func TestNATSPermissions(t *testing.T) {
	srv, users, js := startTestNATS(t, filepath.Join(t.TempDir(), "data"), false) // probes the pipeline's refusals too
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := js.Publish(ctx, bus.DLQSubject("file"), []byte("bad line")); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, bus.StreamAlerts, jetstream.ConsumerConfig{Durable: "notify"}); err != nil {
		t.Fatal(err)
	}
	admin := connectProber(t, srv.ClientURL(), users.Admin)
	if !admin.publish(t, "$JS.API.STREAM.CREATE.SCRATCH", []byte(`{"name":"SCRATCH","subjects":["scratch.>"]}`)) {
		t.Fatal("admin may not create a stream")
	}
	roles := []string{NATSPipeline, NATSOperator, NATSReplay}
	// Subjects and whether pipeline, operator and replay may publish to them.
	pubs := []struct {
		subject string
		allowed [3]bool
	}{
		{"breachd.events.auth.0", [3]bool{true, false, true}},
		{"breachd.events.directory", [3]bool{true, false, true}},
		{"breachd.dlq.file", [3]bool{true, false, true}},
		{"breachd.alerts.high", [3]bool{true, false, false}},
		{"breachd.incidents.updated", [3]bool{true, true, false}},
		{"$KV.incidents.probe", [3]bool{true, true, false}},
		{"$JS.API.STREAM.INFO.DEADLETTER", [3]bool{true, true, true}},
		{"$JS.API.STREAM.MSG.GET.DEADLETTER", [3]bool{true, true, true}},
		{"$JS.API.STREAM.MSG.DELETE.DEADLETTER", [3]bool{false, true, true}},
		{"$JS.API.STREAM.MSG.DELETE.EVENTS", [3]bool{false, false, false}},
		{"$JS.API.STREAM.MSG.GET.EVENTS", [3]bool{true, false, false}},
		{"$JS.API.STREAM.UPDATE.DEADLETTER", [3]bool{true, false, false}},
		{"$JS.API.CONSUMER.CREATE.EVENTS.probe", [3]bool{true, false, false}},
		{"$JS.API.CONSUMER.CREATE.INCIDENTS.probe", [3]bool{true, false, false}},
		{"$JS.API.CONSUMER.DELETE.INCIDENTS.probe", [3]bool{false, false, false}},
		{"$JS.API.CONSUMER.DELETE.ALERTS.notify", [3]bool{false, false, false}},
		{"$JS.API.STREAM.CREATE.EVIL", [3]bool{false, false, false}},
		{"$JS.API.STREAM.PURGE.DEADLETTER", [3]bool{false, false, false}},
		{"$JS.API.STREAM.PURGE.EVENTS", [3]bool{false, false, false}},
		{"$JS.API.STREAM.DELETE.DEADLETTER", [3]bool{false, false, false}},
		{"$JS.API.STREAM.DELETE.EVENTS", [3]bool{false, false, false}},
		{"$JS.API.STREAM.DELETE.KV_incidents", [3]bool{false, false, false}},
		{"$JS.API.STREAM.DELETE.SCRATCH", [3]bool{false, false, false}},
		{"$JS.API.ACCOUNT.PURGE.$G", [3]bool{false, false, false}},
		{"$JS.API.STREAM.SNAPSHOT.EVENTS", [3]bool{false, false, false}},
		{"elsewhere.subject", [3]bool{false, false, false}},
	}
	subs := []struct {
		subject string
		allowed [3]bool
	}{
		{"_INBOX.>", [3]bool{false, false, false}}, // nobody reads the replies of others
		{"_INBOX_pipeline.>", [3]bool{true, false, false}},
		{"_INBOX_operator.>", [3]bool{false, true, false}},
		{"breachd.events.>", [3]bool{false, false, false}},
		{"breachd.dlq.>", [3]bool{false, false, false}},
		{"breachd.incidents.>", [3]bool{true, false, false}}, // the API's live incident stream (run's API stage)
		{"breachd.alerts.>", [3]bool{false, false, false}},
		{">", [3]bool{false, false, false}},
	}
	for i, role := range roles {
		p := connectProber(t, srv.ClientURL(), users.Credential(role))
		for _, c := range pubs {
			if got := p.publish(t, c.subject, nil); got != c.allowed[i] {
				t.Errorf("%s publish %s: allowed %v, want %v", role, c.subject, got, c.allowed[i])
			}
		}
		for _, c := range subs {
			if got := p.subscribe(t, c.subject); got != c.allowed[i] {
				t.Errorf("%s subscribe %s: allowed %v, want %v", role, c.subject, got, c.allowed[i])
			}
		}
	}
	// The API's sessions (a session holds a whole Principal) and people's preferences: only
	// the api role (breachd serve) and the pipeline (run's API stage) may touch them; the api
	// role also does what the operator and replay do for the API.
	for role, want := range map[string]bool{NATSPipeline: true, NATSAPI: true, NATSOperator: false, NATSReplay: false} {
		p := connectProber(t, srv.ClientURL(), users.Credential(role))
		for _, subject := range []string{"$KV.sessions.probe", "$JS.API.STREAM.CREATE.KV_sessions", "$JS.API.DIRECT.GET.KV_sessions",
			"$KV.prefs.probe", "$JS.API.STREAM.CREATE.KV_prefs", "$JS.API.STREAM.UPDATE.KV_prefs", "$JS.API.DIRECT.GET.KV_prefs"} {
			if got := p.publish(t, subject, nil); got != want {
				t.Errorf("%s publish %s: allowed %v, want %v", role, subject, got, want)
			}
		}
	}
	api := connectProber(t, srv.ClientURL(), users.Credential(NATSAPI))
	for subject, want := range map[string]bool{"breachd.incidents.updated": true, "$KV.incidents.probe": true, "$JS.API.STREAM.MSG.DELETE.DEADLETTER": true,
		"breachd.alerts.high": false, "$JS.API.STREAM.UPDATE.DEADLETTER": false, "$JS.API.STREAM.PURGE.DEADLETTER": false, "$JS.API.STREAM.CREATE.EVIL": false,
		// no consumer on INCIDENTS (the live incident stream subscribes; the notifier's
		// announcer durables are out of reach)
		"$JS.API.CONSUMER.CREATE.INCIDENTS.probe": false, "$JS.API.CONSUMER.INFO.INCIDENTS.probe": false,
		"$JS.API.CONSUMER.MSG.NEXT.INCIDENTS.announce-slack": false, "$JS.API.CONSUMER.DELETE.INCIDENTS.announce-slack": false,
		"$JS.API.CONSUMER.CREATE.INCIDENTS.probe.breachd.incidents.opened": false, "$JS.API.STREAM.UPDATE.INCIDENTS": false,
		"$JS.API.CONSUMER.CREATE.EVENTS.probe": false, "$JS.API.CONSUMER.CREATE.ALERTS.probe": false,
		"$JS.API.CONSUMER.MSG.NEXT.ALERTS.notify": false, "$JS.API.CONSUMER.DELETE.ALERTS.notify": false} {
		if got := api.publish(t, subject, nil); got != want {
			t.Errorf("api publish %s: allowed %v, want %v", subject, got, want)
		}
	}
	if !api.subscribe(t, "_INBOX_api.>") || api.subscribe(t, "_INBOX_operator.>") {
		t.Error("api: subscribes to others' replies, or not to its own")
	}
	if !api.subscribe(t, "breachd.incidents.>") || api.subscribe(t, "breachd.events.>") || api.subscribe(t, "$KV.sessions.>") {
		t.Error("api: does not subscribe to the incident changes (the live stream), or subscribes to more")
	}
	// Nothing above purged or deleted anything; the admin may.
	for _, name := range []string{bus.StreamDLQ, bus.StreamEvents} {
		if _, err := js.Stream(ctx, name); err != nil {
			t.Errorf("stream %s after the probes: %v", name, err)
		}
	}
	if info, err := mustStream(t, js, bus.StreamDLQ).Info(ctx); err != nil {
		t.Fatal(err)
	} else if info.State.Msgs != 3 {
		t.Errorf("DEADLETTER after the probes: %d letters, want 3 (its letter, the pipeline's and replay's probes)", info.State.Msgs)
	}
	if !admin.publish(t, "$JS.API.STREAM.PURGE.DEADLETTER", nil) || !admin.publish(t, "$JS.API.STREAM.DELETE.SCRATCH", nil) {
		t.Error("admin may not purge or delete a stream")
	}
	if info, err := mustStream(t, js, bus.StreamDLQ).Info(ctx); err != nil {
		t.Fatal(err)
	} else if info.State.Msgs != 0 {
		t.Errorf("DEADLETTER after the admin purged it: %d letters", info.State.Msgs)
	}
}

func mustStream(t *testing.T, js jetstream.JetStream, name string) jetstream.Stream {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOperatorCannotForgeOrPurge goes through breachd's own client code as the operator: the
// dead letters can be listed and one deleted, incidents read and changed; a forged event
// reaches no stream, and purging or deleting DEADLETTER fails.
func TestOperatorCannotForgeOrPurge(t *testing.T) {
	srv, users, pipeline := startTestNATS(t, filepath.Join(t.TempDir(), "data"), true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range 3 {
		if _, err := pipeline.Publish(ctx, bus.DLQSubject("file"), fmt.Appendf(nil, "bad line %d", i), jetstream.WithMsgID(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pipeline.CreateOrUpdateConsumer(ctx, bus.StreamAlerts, jetstream.ConsumerConfig{Durable: "notify"}); err != nil {
		t.Fatal(err)
	}
	var errs bytes.Buffer
	opLog := slog.New(slog.NewTextHandler(&errs, nil))
	nc, js, err := bus.Connect(srv.ClientURL(), "test-operator", opLog, users.Operator.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	// dlq list and delete of one letter (what `breachd dlq replay --delete` does).
	letters, err := dlq.List(ctx, js, dlq.Filter{Limit: 10})
	if err != nil || len(letters) != 3 {
		t.Fatalf("dlq list as operator: %d letters, %v", len(letters), err)
	}
	dl := mustStream(t, js, bus.StreamDLQ)
	if err := dl.DeleteMsg(ctx, letters[1].Seq); err != nil {
		t.Fatalf("delete one dead letter as operator: %v", err)
	}
	if _, err := dlq.Get(ctx, js, letters[1].Seq); err == nil {
		t.Error("the deleted letter is still there")
	}

	// Incidents: one the pipeline opened, listed and commented on as the CLI does it.
	now := time.Now()
	data, err := json.Marshal(&event.Incident{ID: "INC-1", Org: "o.no", Account: "u@o.no", State: event.StateDetected,
		Opened: now, Aware: now, Deadline: now.Add(event.ReportWindow), Updated: now, Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := pipeline.KeyValue(ctx, bus.BucketIncidents)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "inc.INC-1", data); err != nil {
		t.Fatal(err)
	}
	store, err := notify.NewIncidents(ctx, js, notify.IncidentsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := store.List(ctx); err != nil || len(got) != 1 {
		t.Fatalf("list incidents as operator: %d, %v", len(got), err)
	}
	if _, err := store.Comment(ctx, "INC-1", 0, notify.Edit{Actor: "tester", Comment: "seen"}); err != nil {
		t.Fatalf("comment on an incident as operator: %v", err)
	}
	if _, err := js.Publish(ctx, bus.SubjectIncidents+".updated", []byte("{}")); err != nil {
		t.Fatalf("publish an incident change as operator: %v", err)
	}

	// A forged event: on every partition subject, with core NATS and with JetStream.
	events := mustStream(t, pipeline, bus.StreamEvents)
	before, err := events.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	forged := []byte(`{"kind":"auth","id":"forged","time":"2026-11-02T08:01:13Z","org":"o.no","user":"u@o.no","service":"s","result":"success"}`)
	for p := range bus.DefaultPartitions {
		if err := nc.Publish(bus.PartitionSubject(event.KindAuth, p), forged); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Publish(bus.SubjectDirectory, forged); err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	if _, err := js.Publish(pctx, bus.PartitionSubject(event.KindAuth, 0), forged); err == nil {
		t.Error("JetStream acknowledged a forged event from the operator")
	}
	pcancel()
	after, err := events.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.State.Msgs != before.State.Msgs || after.State.LastSeq != before.State.LastSeq {
		t.Errorf("EVENTS went from %d to %d messages after the operator's forgeries", before.State.Msgs, after.State.Msgs)
	}

	// Purge and delete: refused.
	for name, do := range map[string]func(context.Context) error{
		"purge DEADLETTER":    func(ctx context.Context) error { return dl.Purge(ctx) },
		"delete DEADLETTER":   func(ctx context.Context) error { return js.DeleteStream(ctx, bus.StreamDLQ) },
		"delete EVENTS":       func(ctx context.Context) error { return js.DeleteStream(ctx, bus.StreamEvents) },
		"delete bucket":       func(ctx context.Context) error { return js.DeleteKeyValue(ctx, bus.BucketIncidents) },
		"delete the notifier": func(ctx context.Context) error { return js.DeleteConsumer(ctx, bus.StreamAlerts, "notify") },
	} {
		dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
		err := do(dctx)
		dcancel()
		if !errors.Is(err, context.DeadlineExceeded) { // a refused request gets no answer
			t.Errorf("%s as operator: %v, want no answer (refused)", name, err)
		}
	}
	if info, err := mustStream(t, pipeline, bus.StreamDLQ).Info(ctx); err != nil {
		t.Fatal(err)
	} else if info.State.Msgs != 2 {
		t.Errorf("DEADLETTER after the operator's attempts: %d letters, want the 2 left", info.State.Msgs)
	}
	if _, err := pipeline.Stream(ctx, bus.StreamEvents); err != nil {
		t.Errorf("EVENTS after the operator's attempts: %v", err)
	}
	// The operator's client logged each refusal.
	if n := strings.Count(errs.String(), "Permissions Violation"); n < bus.DefaultPartitions+6 {
		t.Errorf("the operator's client logged %d permission violations, want one per refused request:\n%s", n, errs.String())
	}
}

// TestNATSUsersFile: the persistent credentials are written 0600 on the first start and kept
// across restarts; the pipeline's are new at every start; a file others may read is refused.
func TestNATSUsersFile(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(data, NATSUsersFile)
	if _, err := ReadNATSUsers(data); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadNATSUsers before the first start: %v, want fs.ErrNotExist", err)
	}
	start := func() NATSUsers {
		t.Helper()
		srv, users, err := StartEmbeddedNATS(data, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		srv.Shutdown()
		return users
	}
	first := start()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %04o, want 0600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), first.Pipeline.Password) || strings.Contains(string(b), `"pipeline"`) {
		t.Errorf("the pipeline's credential is in %s:\n%s", path, b)
	}
	for _, c := range []bus.Credential{first.Operator, first.Replay, first.Admin} {
		if len(c.Password) < 32 || !strings.Contains(string(b), c.Password) {
			t.Errorf("%s: password of %d characters, in the file: %v", c.User, len(c.Password), strings.Contains(string(b), c.Password))
		}
	}
	if first.Operator.Password == first.Replay.Password || first.Operator.Password == first.Admin.Password {
		t.Error("two roles share a password")
	}
	second := start()
	if second.Operator != first.Operator || second.Replay != first.Replay || second.Admin != first.Admin {
		t.Error("the persistent credentials changed across a restart")
	}
	if second.Pipeline == first.Pipeline {
		t.Error("the pipeline's credential is the same after a restart")
	}

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := StartEmbeddedNATS(data, testLogger(t))
		want := fmt.Sprintf("(mode %04o)", mode)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("start with a %04o credentials file: %v, want an error with %q and the fix", mode, err, want)
		}
		if err != nil && strings.Contains(err.Error(), first.Admin.Password) {
			t.Error("the error shows a password")
		}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`{"operator":{"user":"operator","password":"short"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadNATSUsers(data); err == nil || !strings.Contains(err.Error(), "remove the file") {
		t.Errorf("incomplete credentials file: %v", err)
	}
}

// TestInfraEndpointHasOperatorLogin: a started infrastructure refuses anonymous clients, and
// TestNATSUsersFileGetsAPIUser: a credentials file from before the api role keeps its
// passwords and gets an api user, still mode 0600.
func TestNATSUsersFileGetsAPIUser(t *testing.T) {
	data := t.TempDir()
	old := NATSUsers{Note: "old"}
	for role, c := range map[string]*bus.Credential{NATSOperator: &old.Operator, NATSReplay: &old.Replay, NATSAdmin: &old.Admin} {
		var err error
		if *c, err = bus.NewCredential(role); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, NATSUsersFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := natsUsersFor(data)
	if err != nil {
		t.Fatal(err)
	}
	if u.API.User != NATSAPI || len(u.API.Password) < 16 || u.Operator != old.Operator || u.Replay != old.Replay || u.Admin != old.Admin {
		t.Fatalf("after natsUsersFor: %+v", u)
	}
	again, err := ReadNATSUsers(data)
	if err != nil || again.API != u.API {
		t.Fatalf("the api credential is not in the file: %v", err)
	}
	if st, err := os.Stat(filepath.Join(data, NATSUsersFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode: %v %v", st.Mode(), err)
	}
}

// its endpoint file carries the operator and replay logins (not the admin's) for the CLI.
func TestInfraEndpointHasOperatorLogin(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in, err := StartInfra(ctx, InfraConfig{DataDir: data, Logger: watchNATS(t, testLogger(t))})
	if err != nil {
		t.Fatalf("start infra: %v", err)
	}
	defer in.Close()
	ep, err := ReadEndpoint(data)
	if err != nil {
		t.Fatal(err)
	}
	if ep.NATS == "" || ep.NATSUser != NATSOperator || ep.NATSReplayUser != NATSReplay || ep.NATSAPIUser != NATSAPI {
		t.Fatalf("endpoint: nats %q user %q replay user %q api user %q", ep.NATS, ep.NATSUser, ep.NATSReplayUser, ep.NATSAPIUser)
	}
	b, err := os.ReadFile(filepath.Join(data, EndpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), in.natsUsers.Admin.Password) || strings.Contains(string(b), in.natsUsers.Pipeline.Password) {
		t.Error("the endpoint file holds the admin's or the pipeline's password")
	}
	if nc, err := nats.Connect(ep.NATS); err == nil {
		nc.Close()
		t.Error("an anonymous client connected to the embedded nats-server")
	}
	for _, role := range []string{NATSOperator, NATSReplay, NATSAPI} {
		nc, js, err := bus.Connect(ep.NATS, "test", testLogger(t), ep.NATSLogin(role)...)
		if err != nil {
			t.Fatalf("connect as %s with the endpoint's login: %v", role, err)
		}
		if _, err := js.Stream(ctx, bus.StreamDLQ); err != nil {
			t.Errorf("%s: stream info: %v", role, err)
		}
		nc.Close()
	}
}

// TestAPIRoleReadsPipeline: the api role (`breachd serve`) and the pipeline (run's API stage)
// read what GET /api/pipeline shows, through the same client calls — the stream infos (the
// dead letters per source with a subject filter) and the consumer lists with their lag — and
// the api role gains nothing beyond: no consumer of its own, no deletes, no single consumer
// infos, no lists of other streams.
func TestAPIRoleReadsPipeline(t *testing.T) {
	srv, users, pipeline := startTestNATS(t, filepath.Join(t.TempDir(), "data"), true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, src := range []string{"file", "file", "http"} {
		if _, err := pipeline.Publish(ctx, bus.DLQSubject(src), []byte("bad"), jetstream.WithMsgID(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pipeline.CreateOrUpdateConsumer(ctx, bus.StreamAlerts, jetstream.ConsumerConfig{Durable: "notify"}); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{NATSAPI, NATSPipeline} {
		nc, js, err := bus.Connect(srv.ClientURL(), "test-"+role, testLogger(t), users.Credential(role).Options()...)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		for _, name := range []string{bus.StreamEvents, bus.StreamAlerts, bus.StreamIncidents, bus.StreamDLQ} {
			st, err := js.Stream(ctx, name)
			if err != nil {
				t.Fatalf("%s: stream %s: %v", role, name, err)
			}
			info, err := st.Info(ctx, jetstream.WithSubjectFilter(bus.SubjectDLQ+".>"))
			if err != nil {
				t.Fatalf("%s: stream %s info: %v", role, name, err)
			}
			if name == bus.StreamDLQ && (info.State.Subjects[bus.DLQSubject("file")] != 2 || info.State.Subjects[bus.DLQSubject("http")] != 1) {
				t.Errorf("%s: dead letters by subject %v, want file 2, http 1", role, info.State.Subjects)
			}
			list := st.ListConsumers(ctx)
			var names []string
			for ci := range list.Info() {
				names = append(names, ci.Name)
			}
			if err := list.Err(); err != nil {
				t.Errorf("%s: consumers of %s: %v", role, name, err)
			}
			if name == bus.StreamAlerts && !slices.Contains(names, "notify") {
				t.Errorf("%s: consumers of ALERTS %v, want notify", role, names)
			}
		}
	}
	api := connectProber(t, srv.ClientURL(), users.Credential(NATSAPI))
	for _, subject := range []string{
		"$JS.API.CONSUMER.CREATE.EVENTS.probe", "$JS.API.CONSUMER.DURABLE.CREATE.ALERTS.probe",
		"$JS.API.CONSUMER.DELETE.ALERTS.notify", "$JS.API.CONSUMER.INFO.ALERTS.notify",
		"$JS.API.CONSUMER.MSG.NEXT.ALERTS.notify", "$JS.API.CONSUMER.LIST.KV_incidents",
		"$JS.API.CONSUMER.NAMES.EVENTS", "$JS.API.STREAM.LIST", "$JS.API.STREAM.NAMES",
	} {
		if api.publish(t, subject, nil) {
			t.Errorf("api publish %s: allowed", subject)
		}
	}
}
