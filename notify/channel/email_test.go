package channel

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"breachd/retry"
)

// testCA makes a CA and a server certificate for 127.0.0.1 signed by it.
func testCA(t *testing.T) (caPEM []byte, server tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "breachd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

type received struct {
	from     string
	to       []string
	data     []byte
	tls      bool
	authUser string
}

// smtpBackend accepts mail from an authenticated session and records it.
type smtpBackend struct {
	mu   sync.Mutex
	msgs []received
}

func (b *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{b: b, c: c}, nil
}

func (b *smtpBackend) received() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type smtpSession struct {
	b    *smtpBackend
	c    *smtp.Conn
	user string
	cur  received
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "breachd" || pass != "pw-æøå" {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}), nil
}
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.cur = received{from: from, authUser: s.user}
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = data
	_, s.cur.tls = s.c.TLSConnectionState()
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.cur)
	s.b.mu.Unlock()
	return nil
}
func (s *smtpSession) Reset()        { s.cur = received{} }
func (s *smtpSession) Logout() error { return nil }

// startSMTP runs a go-smtp server on 127.0.0.1: STARTTLS (offered if cert is set) or
// implicit TLS; AUTH only over TLS.
func startSMTP(t *testing.T, cert *tls.Certificate, implicit bool) (*smtpBackend, int) {
	t.Helper()
	be := &smtpBackend{}
	s := smtp.NewServer(be)
	s.Domain = "mx.test"
	s.ErrorLog = nopLogger{}
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	if cert != nil {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicit {
		l = tls.NewListener(l, s.TLSConfig)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close(); <-done })
	return be, l.Addr().(*net.TCPAddr).Port
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

func emailChannel(t *testing.T, caPEM []byte, port int, mode, password string) *Email {
	t.Helper()
	pool := x509.NewCertPool()
	if caPEM != nil && !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("bad CA PEM")
	}
	e, err := NewEmail("mail", EmailOptions{
		Host: "127.0.0.1", Port: port, TLS: mode, Username: "breachd", Password: password,
		From: "breachd <breachd@example.org>", To: []string{"SOC <soc@example.org>", "dpo@example.org"},
		RootCAs: pool, Clock: func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEmailStartTLSAuthAndContent(t *testing.T) {
	caPEM, cert := testCA(t)
	be, port := startSMTP(t, &cert, false)
	m := testMessage()
	m.Link = "https://breachd.example.org/incidents/" + m.Incident.ID
	if err := emailChannel(t, caPEM, port, TLSStartTLS, "pw-æøå").Send(ctxT(t), m); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := be.received()
	if len(got) != 1 {
		t.Fatalf("received %d messages", len(got))
	}
	r := got[0]
	if !r.tls || r.authUser != "breachd" || r.from != "breachd@example.org" ||
		strings.Join(r.to, ",") != "soc@example.org,dpo@example.org" {
		t.Fatalf("envelope = %+v", r)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(r.data)))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	wantHeaders := map[string]string{
		"Message-Id":                "<" + m.DeliveryID() + "@example.org>",
		"Mime-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
		"Date":                      "Thu, 05 Nov 2026 08:00:00 +0000",
		"From":                      `"breachd" <breachd@example.org>`,
	}
	for k, want := range wantHeaders {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if want := "[HIGH] INC-20261105-1a2b3c4d opened: Lærer så eget barns trivselsdata"; subject != want {
		t.Errorf("subject = %q, want %q", subject, want)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	for _, want := range []string{
		"Kontaktlærer på Østerås skole åpnet data.",
		"Account:     ødegård@bærum.no",
		"Org:         baerum.kommune.no",
		"State:       detected",
		"Rules:       teacher-own-child (2), pupil-as-teacher (1)",
		"First seen:  2026-11-05 06:00 UTC",
		"Last seen:   2026-11-05 07:00 UTC",
		"Deadline:    2026-11-08 08:00 UTC",
		m.Link,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("body lacks %q:\n%s", want, text)
		}
	}
	for i, line := range strings.Split(string(r.data), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line %d is %d bytes, over RFC 5322's 998", i, len(line))
		}
	}
}

func TestEmailImplicitTLS(t *testing.T) {
	caPEM, cert := testCA(t)
	be, port := startSMTP(t, &cert, true)
	if err := emailChannel(t, caPEM, port, TLSImplicit, "pw-æøå").Send(ctxT(t), testMessage()); err != nil {
		t.Fatalf("send: %v", err)
	}
	if got := be.received(); len(got) != 1 || !got[0].tls {
		t.Fatalf("received = %+v", got)
	}
}

func TestEmailFailures(t *testing.T) {
	caPEM, cert := testCA(t)
	otherCA, _ := testCA(t)
	_, tlsPort := startSMTP(t, &cert, false)
	_, plainPort := startSMTP(t, nil, false)
	cases := []struct {
		name      string
		ca        []byte
		port      int
		password  string
		permanent bool
		contains  string
	}{
		{"wrong password", caPEM, tlsPort, "wrong", true, "535"},
		{"untrusted certificate", otherCA, tlsPort, "pw-æøå", true, "certificate"},
		{"no STARTTLS offered", caPEM, plainPort, "pw-æøå", true, "STARTTLS"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := emailChannel(t, c.ca, c.port, TLSStartTLS, c.password).Send(ctxT(t), testMessage())
			if err == nil || retry.IsPermanent(err) != c.permanent || !strings.Contains(err.Error(), c.contains) {
				t.Fatalf("err = %v, want permanent=%v containing %q", err, c.permanent, c.contains)
			}
			if strings.Contains(err.Error(), c.password) {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
	t.Run("connection refused is transient", func(t *testing.T) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		err := emailChannel(t, caPEM, port, TLSStartTLS, "x").Send(ctxT(t), testMessage())
		if err == nil || retry.IsPermanent(err) {
			t.Fatalf("err = %v, want transient", err)
		}
	})
}

func TestEmailConfigCAFile(t *testing.T) {
	caPEM, cert := testCA(t)
	be, port := startSMTP(t, &cert, false)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "smtp-password"), []byte("pw-æøå\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := `
channels:
  - name: mail
    email:
      host: 127.0.0.1
      port: ` + itoa(port) + `
      username: breachd
      password_file: smtp-password
      from: breachd@example.org
      to: [soc@example.org]
      ca_file: ca.pem
default: {channels: [mail]}
`
	path := filepath.Join(dir, "notify.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_, kv := startKV(t)
	d, err := LoadConfig(path, Options{KV: kv, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Dispatch(ctxT(t), testMessage()); err != nil {
		t.Fatal(err)
	}
	if len(be.received()) != 1 {
		t.Fatalf("received %d", len(be.received()))
	}
}
