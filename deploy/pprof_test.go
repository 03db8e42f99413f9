package deploy

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestServePprofLoopbackOnly(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.org:0"} {
		if stop, _, err := ServePprof(addr, log); err == nil {
			stop()
			t.Errorf("ServePprof(%q) served; want a refusal (loopback only)", addr)
		} else if !strings.Contains(err.Error(), "--pprof") {
			t.Errorf("ServePprof(%q): %v; want the error to name --pprof", addr, err)
		}
	}
	stop, url, err := ServePprof("", log)
	if err != nil || url != "" {
		t.Fatalf(`ServePprof(""): url %q, err %v; want nothing served`, url, err)
	}
	stop()

	stop, url, err = ServePprof("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for _, path := range []string{"", "heap?debug=1", "goroutine?debug=1"} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s%s: %d, %d bytes; want 200 with a profile", url, path, resp.StatusCode, len(body))
		}
	}
}
