package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"breachd/auth"
	"breachd/bus"
	"breachd/deploy"
	"breachd/event"
	"breachd/ingest"
	"breachd/simulate"
)

// The two municipalities of the demo (simulate.Defaults: orgs 0 and 1).
const (
	orgBergen = "bergen.kommune.no"
	orgOslo   = "oslo.kommune.no"
)

// user is a local user of the demo instance.
type user struct {
	name, password string
	roles          []auth.Role
	orgs           []string
}

// The people of the scenarios (docs/access.md).
var (
	// socUser is a small school owner's security officer, who works incidents (soc) and owns
	// the 72-hour deadline (dpo) of Bergen: scenario (b) works an incident from detected to
	// reported in one session, as such a person does.
	socUser = user{name: "soc", roles: []auth.Role{auth.RoleSOC, auth.RoleDPO}, orgs: []string{orgBergen}}
	// orgAdmin is Bergen's Feide administrator (scenario a).
	orgAdmin = user{name: "orgadmin", roles: []auth.Role{auth.RoleOrgAdmin}, orgs: []string{orgBergen}}
	// dpoUser is Bergen's data protection officer (scenario d).
	dpoUser = user{name: "dpo", roles: []auth.Role{auth.RoleDPO}, orgs: []string{orgBergen}}
	// author writes detection rules (scenario c).
	author = user{name: "author", roles: []auth.Role{auth.RoleRuleAuthor}}
	// lead may open every page (the accessibility check); the language it chooses there
	// stays its own.
	lead = user{name: "lead", roles: []auth.Role{auth.RoleSOC, auth.RoleDPO}, orgs: []string{orgBergen}}
)

// instance is the demo instance the tests of this binary share: `breachd run --demo` in
// process, its input processed before any test uses it.
type instance struct {
	url       string // http://127.0.0.1:<port>
	dataDir   string
	logFile   string
	log       *os.File
	proc      *deploy.Process
	sink      ingest.Sink
	breaches  []simulate.Breach
	cancel    context.CancelFunc
	done      chan error // RunPipeline's result
	users     map[string]user
	sequence  atomic.Int64 // for names unique in this instance
	closeOnce sync.Once
}

var shared struct {
	once sync.Once
	in   *instance
	err  error
}

// TestMain stops the browser and the shared instance (if a test started them) after the
// tests; when a test failed, the instance's log is kept with the artifacts.
func TestMain(m *testing.M) {
	code := m.Run()
	if chrome.cancel != nil {
		chrome.cancel()
	}
	if shared.in != nil {
		if code != 0 {
			if b, err := os.ReadFile(shared.in.logFile); err == nil {
				dst := filepath.Join(artifactsDir(""), "breachd.log")
				if os.MkdirAll(filepath.Dir(dst), 0o755) == nil && os.WriteFile(dst, b, 0o644) == nil {
					fmt.Fprintf(os.Stderr, "e2e: the demo instance's log: %s\n", dst)
				}
			}
		}
		shared.in.close()
	}
	os.Exit(code)
}

// demo returns the shared demo instance, starting it on first use; a test that cannot have
// it fails with the reason.
func demo(t *testing.T) *instance {
	t.Helper()
	shared.once.Do(func() { shared.in, shared.err = startDemo() })
	if shared.err != nil {
		t.Fatalf("the demo instance did not start: %v", shared.err)
	}
	return shared.in
}

// startDemo runs what `breachd run --demo` runs (deploy.StartProcess, the simulator of
// simulate.Defaults, every stage, the API on 127.0.0.1:0) with the users of the scenarios,
// and waits until the demo's input is processed (the pipeline's OnIdle).
func startDemo() (_ *instance, err error) {
	dir, err := os.MkdirTemp("", "breachd-e2e-")
	if err != nil {
		return nil, err
	}
	in := &instance{dataDir: dir, logFile: filepath.Join(dir, "breachd.log"), done: make(chan error, 1), users: map[string]user{}}
	defer func() {
		if err != nil {
			in.close()
		}
	}()
	usersFile := filepath.Join(dir, deploy.UsersFile)
	users, err := auth.OpenUsers(usersFile)
	if err != nil {
		return nil, err
	}
	for _, u := range []user{socUser, orgAdmin, dpoUser, author, lead} {
		u.password = "e2e-" + randomHex(12)
		if err := users.Add(u.name, u.roles, u.orgs, u.password); err != nil {
			return nil, fmt.Errorf("add user %s: %w", u.name, err)
		}
		in.users[u.name] = u
	}
	if in.log, err = os.Create(in.logFile); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(in.log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	in.proc, err = deploy.StartProcess(ctx, deploy.InfraConfig{DataDir: filepath.Join(dir, "data"), Logger: log}, "", "")
	if err != nil {
		return nil, fmt.Errorf("start the infrastructure: %w (the embedded ClickHouse engine: run scripts/setup.sh)", err)
	}
	sim := simulate.Defaults()
	gen, err := simulate.New(sim)
	if err != nil {
		return nil, err
	}
	in.breaches = gen.Breaches()
	layout, err := bus.ReadLayout(ctx, in.proc.JS)
	if err != nil {
		return nil, err
	}
	if in.sink, err = ingest.NewPipeline(bus.NewPublisher(in.proc.JS), layout, log, nil); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	in.url = "http://" + ln.Addr().String()
	idle := make(chan struct{})
	go func() {
		in.done <- deploy.RunPipeline(ctx, in.proc.Infra, deploy.PipelineConfig{
			Sources:    []ingest.Source{deploy.NewDemoSource(gen, 0)},
			OnIdle:     func(context.Context) { close(idle) },
			Registerer: in.proc.Registry,
			Logger:     log,
			API:        deploy.APIConfig{Listener: ln, UsersFile: usersFile},
		})
	}()
	select {
	case <-idle:
		return in, nil
	case err := <-in.done:
		in.done <- err
		return nil, fmt.Errorf("the pipeline stopped before the demo was processed: %v (log: %s)", err, in.logFile)
	case <-time.After(4 * time.Minute):
		return nil, fmt.Errorf("the demo was not processed in 4 minutes (log: %s)", in.logFile)
	}
}

// close stops the pipeline and the infrastructure and removes the data.
func (in *instance) close() {
	in.closeOnce.Do(func() {
		if in.cancel != nil {
			in.cancel()
			select {
			case <-in.done:
			case <-time.After(time.Minute):
			}
		}
		if in.proc != nil {
			in.proc.Close()
		}
		if in.log != nil {
			in.log.Close()
		}
		os.RemoveAll(in.dataDir)
	})
}

// user returns the user named name with its password.
func (in *instance) user(t *testing.T, u user) user {
	t.Helper()
	got, ok := in.users[u.name]
	if !ok {
		t.Fatalf("no user %s in the demo instance", u.name)
	}
	return got
}

// breach returns the demo's ground truth of scenario (simulate.Breach.Scenario).
func (in *instance) breach(t *testing.T, scenario string) simulate.Breach {
	t.Helper()
	for _, b := range in.breaches {
		if b.Scenario == scenario {
			return b
		}
	}
	t.Fatalf("the demo has no breach %s", scenario)
	return simulate.Breach{}
}

// unique returns prefix with a number no other call of this instance returned.
func (in *instance) unique(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, in.sequence.Add(1))
}

// exportIncident publishes, through ingest as any source does, an access event in which
// actor (of org) exports 800 health records now: the shipped rule bulk-export-sensitive
// opens an incident for actor.
func (in *instance) exportIncident(t *testing.T, org, actor string) {
	t.Helper()
	ev := event.Event{Kind: event.KindAccess, ID: in.unique("e2e-export-"), Time: time.Now().UTC().Truncate(time.Millisecond),
		Org: org, Actor: actor, ActorRole: "staff", Action: "export", Subject: "ola.nordmann@" + org,
		Resource: "health", Service: "sas", Records: 800}
	b, err := event.Marshal(&ev)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := in.sink.Submit(ctx, ingest.Batch{Source: "e2e", Records: []ingest.Record{{Data: b, Where: "e2e"}}})
	if err == nil && res.Accepted != 1 {
		err = errors.New("the event was not accepted")
		if len(res.Refusals) > 0 {
			err = fmt.Errorf("the event was refused: %s", res.Refusals[0].Reason)
		}
	}
	if err != nil {
		t.Fatalf("publish the export of %s: %v", actor, err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}
