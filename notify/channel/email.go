package channel

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"breachd/retry"
)

// E-mail transport security modes.
const (
	TLSStartTLS = "starttls" // plain connect, then STARTTLS (required; submission port 587)
	TLSImplicit = "implicit" // TLS from the first byte (port 465)
)

// EmailOptions configures an Email channel.
type EmailOptions struct {
	Host string // SMTP server host name; also the TLS server name
	Port int    // default 587 for starttls, 465 for implicit
	TLS  string // TLSStartTLS (default) or TLSImplicit; there is no plaintext mode
	// Username and Password enable AUTH PLAIN (only ever over TLS). Empty Username: no auth.
	Username, Password string
	From               string         // RFC 5322 address, e.g. "breachd <breachd@example.org>"
	To                 []string       // at least one
	RootCAs            *x509.CertPool // nil: the system roots
	HelloName          string         // EHLO name (default "localhost")
	Clock              func() time.Time
}

// Email sends a plain-text message per notification over SMTP with TLS. One connection per
// Send: notifications are rare, and a fresh connection never trips over a server's idle timeout.
type Email struct {
	name     string
	o        EmailOptions
	from     *mail.Address
	to       []*mail.Address
	domain   string
	tlsConf  *tls.Config
	addrPort string
}

// NewEmail checks o and returns an e-mail channel.
func NewEmail(name string, o EmailOptions) (*Email, error) {
	e := &Email{name: name}
	if o.Host == "" {
		return nil, fmt.Errorf("email %s: no host", name)
	}
	switch o.TLS {
	case "":
		o.TLS = TLSStartTLS
	case TLSStartTLS, TLSImplicit:
	default:
		return nil, fmt.Errorf("email %s: tls %q: want starttls or implicit", name, o.TLS)
	}
	if o.Port == 0 {
		o.Port = 587
		if o.TLS == TLSImplicit {
			o.Port = 465
		}
	}
	if o.Port < 1 || o.Port > 65535 {
		return nil, fmt.Errorf("email %s: port %d out of range", name, o.Port)
	}
	if o.Username != "" && o.Password == "" {
		return nil, fmt.Errorf("email %s: username set but password empty", name)
	}
	var err error
	if e.from, err = mail.ParseAddress(o.From); err != nil {
		return nil, fmt.Errorf("email %s: from %q: %w", name, o.From, err)
	}
	if len(o.To) == 0 {
		return nil, fmt.Errorf("email %s: no recipients", name)
	}
	for _, t := range o.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("email %s: to %q: %w", name, t, err)
		}
		e.to = append(e.to, a)
	}
	if o.HelloName == "" {
		o.HelloName = "localhost"
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	_, e.domain, _ = strings.Cut(e.from.Address, "@")
	e.o = o
	e.tlsConf = &tls.Config{ServerName: o.Host, RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}
	e.addrPort = net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	return e, nil
}

// Name returns the channel's configured name.
func (e *Email) Name() string { return e.name }

// Send delivers m to every recipient in one SMTP transaction. A 5xx reply (rejected sender,
// recipient, auth or content) is permanent; 4xx replies and network errors are transient.
func (e *Email) Send(ctx context.Context, m Message) error {
	msg := e.render(&m)
	err := e.send(ctx, msg)
	if err == nil {
		return nil
	}
	err = fmt.Errorf("email %s: %w", e.name, err)
	if ctx.Err() != nil {
		return err
	}
	var tpe *textproto.Error
	if errors.As(err, &tpe) && tpe.Code >= 500 {
		return retry.Permanent(err)
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return retry.Permanent(err)
	}
	if retry.IsPermanent(err) {
		return err
	}
	return retry.Transient(err, 0)
}

func (e *Email) send(ctx context.Context, msg []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.addrPort)
	if err != nil {
		return fmt.Errorf("connect %s: %w", e.addrPort, err)
	}
	defer conn.Close()
	// net/smtp takes no context: a deadline on the connection bounds every read and write,
	// and cancellation interrupts them.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if e.o.TLS == TLSImplicit {
		tc := tls.Client(conn, e.tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls handshake: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, e.o.Host)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(e.o.HelloName); err != nil {
		return fmt.Errorf("ehlo: %w", err)
	}
	if e.o.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return retry.Permanent(errors.New("server does not offer STARTTLS; refusing to send in plaintext"))
		}
		if err := c.StartTLS(e.tlsConf); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if e.o.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", e.o.Username, e.o.Password, e.o.Host)); err != nil {
			return fmt.Errorf("auth as %s: %w", e.o.Username, err)
		}
	}
	if err := c.Mail(e.from.Address); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	for _, t := range e.to {
		if err := c.Rcpt(t.Address); err != nil {
			return fmt.Errorf("rcpt to %s: %w", t.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	_ = c.Quit() // the message is accepted; a failed QUIT changes nothing
	return nil
}

// subjectMax bounds the subject before encoding.
const subjectMax = 200

// render builds the RFC 5322 message: headers, then a quoted-printable UTF-8 text body.
func (e *Email) render(m *Message) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	to := make([]string, len(e.to))
	for i, a := range e.to {
		to[i] = a.String()
	}
	hdr("Date", e.o.Clock().Format(time.RFC1123Z))
	hdr("From", e.from.String())
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", clip(heading(m), subjectMax)))
	hdr("Message-ID", "<"+m.DeliveryID()+"@"+e.domain+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	hdr("Auto-Submitted", "auto-generated")
	hdr(HeaderDelivery, m.DeliveryID())
	b.WriteString("\r\n")

	var body strings.Builder
	if m.Title != "" {
		body.WriteString(m.Title + "\n\n")
	}
	if m.Text != "" {
		body.WriteString(m.Text + "\n\n")
	}
	fs := facts(m)
	width := 0
	for _, f := range fs {
		width = max(width, len(f.Name))
	}
	for _, f := range fs {
		fmt.Fprintf(&body, "%-*s  %s\n", width+1, f.Name+":", f.Value)
	}
	if m.Link != "" {
		body.WriteString("\n" + m.Link + "\n")
	}
	body.WriteString("\n-- \nbreachd (automatic message, kind " + m.Kind + ")\n")

	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(body.String(), "\n", "\r\n")))
	_ = qp.Close()
	return b.Bytes()
}
