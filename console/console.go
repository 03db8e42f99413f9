package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed assets
var embedded embed.FS

// Pages are the console's client-side routes (http.ServeMux patterns); each answers the shell.
var Pages = []string{
	"/{$}", "/signin", "/incidents", "/incidents/{id}", "/investigate", "/audit",
	"/rules", "/register", "/health", "/settings",
}

// CSP is the Content-Security-Policy of the console's pages and assets: everything from the
// same origin only, nothing inline, no framing, no plugins, forms only to the same origin.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Console serves the embedded pages and assets. Build it with New.
type Console struct {
	files fs.FS
	etags map[string]string // asset path (under assets/) → strong ETag
}

// New reads the embedded assets and computes their ETags.
func New() (*Console, error) {
	sub, err := fs.Sub(embedded, "assets")
	if err != nil {
		return nil, err
	}
	c := &Console{files: sub, etags: map[string]string{}}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		c.etags[p] = `"` + hex.EncodeToString(sum[:12]) + `"`
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Register adds the console's routes to mux: the pages (the shell) and GET /assets/.
func (c *Console) Register(mux *http.ServeMux) {
	shell := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.serve(w, r, "index.html") })
	for _, p := range Pages {
		mux.Handle("GET "+p, shell)
	}
	mux.HandleFunc("GET /assets/", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/assets/")
		if name == "" || name == "index.html" || path.Clean("/"+name) != "/"+name {
			http.NotFound(w, r)
			return
		}
		c.serve(w, r, name)
	})
}

// serve writes the embedded file name with the console's headers, or 404; a request whose
// If-None-Match matches the file's ETag gets 304.
func (c *Console) serve(w http.ResponseWriter, r *http.Request, name string) {
	etag, ok := c.etags[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	b, err := fs.ReadFile(c.files, name)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h.Set("Content-Type", ctype)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
