package deploy

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"breachd/bus"
)

// TestCLIAndStagesOpenStoresAlike: the stages (StartInfra, whose Stores RunPipeline's stages
// work on) and people's commands (Attach, through a running instance and on the data directory
// itself) reach NATS and the history through the same two functions, connectNATS and
// openHistory; the stores Attach returns work.
func TestCLIAndStagesOpenStoresAlike(t *testing.T) {
	var mu sync.Mutex
	var opened []string
	storeOpened = func(kind, target string) {
		mu.Lock()
		defer mu.Unlock()
		opened = append(opened, kind+" "+strings.SplitN(target, ":", 2)[0])
	}
	defer func() { storeOpened = nil }()
	took := func() []string {
		mu.Lock()
		defer mu.Unlock()
		got := opened
		opened = nil
		slices.Sort(got)
		return got
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	data := filepath.Join(t.TempDir(), "data")

	in, err := StartInfra(ctx, InfraConfig{DataDir: data, Logger: quiet})
	if err != nil {
		t.Fatalf("start infra (needs libchdb.so: scripts/setup.sh): %v", err)
	}
	if got := took(); !slices.Equal(got, []string{"history http", "nats breachd"}) {
		in.Close()
		t.Fatalf("StartInfra opened %q, want NATS and the history through connectNATS and openHistory", got)
	}
	if err := RunPipeline(ctx, in, PipelineConfig{ExitWhenDone: true, Logger: quiet}); err != nil {
		in.Close()
		t.Fatal(err)
	}
	check := func(how string, a *Attached) {
		t.Helper()
		defer a.Close()
		if _, err := a.JS.Stream(ctx, bus.StreamIncidents); err != nil {
			t.Errorf("%s: JetStream: %v", how, err)
		}
		if _, err := a.History.Count(ctx); err != nil {
			t.Errorf("%s: history: %v", how, err)
		}
	}
	cfg := AttachConfig{InfraConfig: InfraConfig{DataDir: data, Logger: quiet}, NATS: NATSOperator, History: true}
	a, err := Attach(ctx, cfg) // through the running instance's endpoint file
	if err != nil {
		in.Close()
		t.Fatal(err)
	}
	check("running instance", a)
	if got := took(); !slices.Equal(got, []string{"history http", "nats breachd-cli"}) {
		t.Errorf("Attach to a running instance opened %q", got)
	}
	in.Close()
	a, err = Attach(ctx, cfg) // the engines opened here
	if err != nil {
		t.Fatal(err)
	}
	check("data directory", a)
	if got := took(); !slices.Equal(got, []string{"history http", "history http", "nats breachd-cli"}) { // owner, then people's
		t.Errorf("Attach on the data directory opened %q", got)
	}
}

// TestOneWayToTheStores: in deploy and cmd/breachd, only connectNATS connects to NATS, only
// openHistory opens the history, only Stores.Incidents builds the incidents service and only
// Stores.Engine the deactivation engine. A second path (a command of its own connecting, a
// stage opening a store beside Infra) fails here.
func TestOneWayToTheStores(t *testing.T) {
	allowed := map[string]string{ // call → the one function (file:name) that may make it
		"bus.Connect": "stores.go:connectNATS", "nats.Connect": "stores.go:connectNATS", "bus.NewJetStream": "stores.go:connectNATS",
		"jetstream.New": "stores.go:connectNATS", "history.Open": "stores.go:openHistory", "history.OpenDialer": "stores.go:openHistory",
		"notify.NewIncidents": "stores.go:Incidents", "respond.New": "respond.go:Engine",
	}
	files, _ := filepath.Glob("*.go")
	cmd, _ := filepath.Glob("../cmd/breachd/*.go")
	fset := token.NewFileSet()
	checked := 0
	for _, path := range append(files, cmd...) {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				pkg, ok := sel.X.(*ast.Ident)
				if !ok {
					return true
				}
				if want, ok := allowed[pkg.Name+"."+sel.Sel.Name]; ok && filepath.Base(path)+":"+fn.Name.Name != want {
					t.Errorf("%s: %s calls %s.%s: reach the stores through Attach or StartInfra (only %s may)",
						fset.Position(call.Pos()), fn.Name.Name, pkg.Name, sel.Sel.Name, want)
				}
				return true
			})
		}
	}
	if checked < 10 {
		t.Fatalf("checked %d files: run from the deploy directory", checked)
	}
}
