package respond_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"breachd/bus/bustest"
	"breachd/respond"
)

// BenchmarkRequestDryRun measures a new request end to end with the dry-run adapter: the
// existence check, the cap window CAS, the request create, the pending mark, the claim, the
// call and the outcome write on an embedded JetStream (file storage).
func BenchmarkRequestDryRun(b *testing.B) {
	ctx := context.Background()
	srv := bustest.StartServer(b)
	if err := respond.EnsureBucket(ctx, srv.JS, 1, 0); err != nil {
		b.Fatal(err)
	}
	dry := &respond.DryRun{}
	eng, err := respond.New(ctx, srv.JS, respond.Options{
		Adapter: dry, Auditor: respond.NewJSONAuditor(io.Discard),
		Logger: slog.New(slog.DiscardHandler),
		Policy: respond.Policy{MaxPerHour: 1 << 30, AllowList: []string{"breakglass@*", "*-admin@*"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		tg := respond.Target{Org: fmt.Sprintf("org%d", i%50), Account: fmt.Sprintf("user%d@x.no", i), Incident: fmt.Sprintf("INC-%d", i)}
		r, err := eng.Request(ctx, tg, "bench", "bench")
		if err != nil || r.State != respond.StateDone {
			b.Fatalf("request %d: %v %v", i, r, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}

// BenchmarkRedelivery measures a Request for an incident that already has a done request
// (the notifier's redelivery path): one KV read.
func BenchmarkRedelivery(b *testing.B) {
	ctx := context.Background()
	srv := bustest.StartServer(b)
	if err := respond.EnsureBucket(ctx, srv.JS, 1, 0); err != nil {
		b.Fatal(err)
	}
	eng, err := respond.New(ctx, srv.JS, respond.Options{
		Adapter: &respond.DryRun{}, Auditor: respond.NewJSONAuditor(io.Discard),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	tg := respond.Target{Org: "x.no", Account: "ola@x.no", Incident: "INC-1"}
	if _, err := eng.Request(ctx, tg, "", "bench"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if r, err := eng.Request(ctx, tg, "", "bench"); err != nil || r.State != respond.StateDone {
			b.Fatal(r, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}
