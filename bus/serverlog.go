package bus

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// serverLogger passes the embedded server's warnings and errors to slog. Notices go to Debug:
// the server announces every start in a dozen lines. Debug and trace output is not enabled.
type serverLogger struct{ log *slog.Logger }

func (l serverLogger) Noticef(format string, v ...any) {
	l.log.Debug("nats server", "detail", fmt.Sprintf(format, v...))
}

// Warnf logs at Warn, except the file store's reports of a corrupt message block, which
// mean lost messages: those at Error (CheckStore says which).
func (l serverLogger) Warnf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.HasPrefix(msg, "Filestore [") && strings.Contains(msg, "corrupt") {
		l.log.Error("nats server: store damaged", "detail", msg)
		return
	}
	l.log.Warn("nats server", "detail", msg)
}
func (l serverLogger) Errorf(format string, v ...any) {
	l.log.Error("nats server", "detail", fmt.Sprintf(format, v...))
}
func (l serverLogger) Fatalf(format string, v ...any) {
	l.log.Error("nats server", "detail", fmt.Sprintf(format, v...))
}
func (l serverLogger) Debugf(format string, v ...any) {
	l.log.Debug("nats server", "detail", fmt.Sprintf(format, v...))
}
func (l serverLogger) Tracef(string, ...any) {}

// RedactURL returns the comma-separated NATS URLs of s with every password, and a token given
// as the user name, replaced by "xxxxx", for errors and logs.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			if strings.Contains(p, "@") {
				parts[i] = "(unparsable URL with credentials)"
			}
			continue
		}
		if u.User != nil {
			if _, ok := u.User.Password(); !ok {
				u.User = url.User("xxxxx")
			}
		}
		parts[i] = u.Redacted()
	}
	return strings.Join(parts, ",")
}
