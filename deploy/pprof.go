package deploy

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"

	"breachd/history/chdb"
)

// ServePprof serves Go's runtime profiles (net/http/pprof: /debug/pprof/ with profile, heap,
// allocs, goroutine, trace, …) on addr until stop; an empty addr serves nothing. Profiles show
// the process's internals (and a CPU profile costs CPU while it runs), so addr must be a
// loopback address: reach it from elsewhere through an SSH tunnel or kubectl port-forward.
func ServePprof(addr string, log *slog.Logger) (stop func(), url string, err error) {
	if addr == "" {
		return func() {}, "", nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", fmt.Errorf("--pprof %s: %w", addr, err)
	}
	if !chdb.IsLoopback(host) {
		return nil, "", fmt.Errorf("--pprof %s: not a loopback address; profiles are served on 127.0.0.1, ::1 or localhost only (tunnel to reach them)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("--pprof %s: %w (choose another address)", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return serve(ln, mux, "pprof", log), "http://" + ln.Addr().String() + "/debug/pprof/", nil
}
