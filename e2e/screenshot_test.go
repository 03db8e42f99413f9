package e2e_test

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestScreenshot takes the README's picture of the console: the incidents page of the demo
// (1280×800) as the SOC sees it. With BREACHD_SCREENSHOT=<file.png> (relative to the
// repository's root, e.g. docs/console-incidents.png) it writes the picture there.
func TestScreenshot(t *testing.T) {
	in := demo(t)
	p := newPage(t, in)
	p.do("set the viewport", chromedp.EmulateViewport(1280, 800))
	p.signIn(in.user(t, socUser))
	p.open("/incidents", "table#incidents tr[data-id]")
	p.until("the live stream", `(document.querySelector('#stream-status') || {dataset: {}}).dataset.state === 'live'`)
	shot, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is no PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 800 {
		t.Fatalf("the screenshot is %d×%d, want 1280×800", b.Dx(), b.Dy())
	}
	dst := os.Getenv("BREACHD_SCREENSHOT")
	if dst == "" {
		return
	}
	if !filepath.IsAbs(dst) {
		dst = filepath.Join("..", dst) // go test runs in e2e/
	}
	if err := os.WriteFile(dst, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", dst)
}
