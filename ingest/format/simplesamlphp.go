package format

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"breachd/event"
	"breachd/ingest"
)

// SimpleSAMLphpOptions configure the SimpleSAMLphp log parser. The zero value is usable.
type SimpleSAMLphpOptions struct {
	// Location is the zone the log's timestamps are written in (syslog and SimpleSAMLphp's
	// file handler write local time without an offset). Default Europe/Oslo.
	Location *time.Location
	// Now is the reference clock that supplies the year the timestamps lack. Default
	// time.Now. For replays of old files set it to a time near the file's end.
	Now func() time.Time
	// IdPService, if set, turns the credential check lines of SimpleSAMLphp's user/password
	// sources ("User 'x' successfully authenticated from IP") into auth events for this
	// service (normally the IdP's own entity id), with method "password". They carry the
	// client IP, which the statistics lines lack. If empty, those lines are skipped, so each
	// login is one event (its statistics line).
	IdPService string
	// Org is the organisation of users without a realm (no "@"). Default: none, and such a
	// line is rejected naming the user.
	Org string
}

// sspLevels maps SimpleSAMLphp's level names (file handler) to syslog numbers (syslog handler).
var sspLevels = map[string]int{"EMERGENCY": 0, "ALERT": 1, "CRITICAL": 2, "ERROR": 3, "WARNING": 4, "NOTICE": 5, "INFO": 6, "DEBUG": 7}

// SimpleSAMLphp returns the parser of SimpleSAMLphp log lines. See the package documentation
// for the line shapes it reads and how it maps them.
func SimpleSAMLphp(opts SimpleSAMLphpOptions) ingest.Parser {
	if opts.Location == nil {
		loc, err := time.LoadLocation("Europe/Oslo")
		if err != nil { // no zoneinfo on this host: Oslo's standard offset is the best guess left
			loc = time.FixedZone("CET", 3600)
		}
		opts.Location = loc
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return func(data []byte) (event.Event, error) { return parseSSP(&opts, data) }
}

// sspLine is one log line split into its parts.
type sspLine struct {
	time    time.Time
	level   int
	stat    bool
	trackID string
	msg     string
}

func parseSSP(o *SimpleSAMLphpOptions, data []byte) (event.Event, error) {
	raw := bytes.TrimRight(data, "\r\n")
	l, err := splitSSP(o, string(raw))
	if err != nil {
		return event.Event{}, err
	}
	if !l.stat {
		return event.Event{}, skipf("level %d line without STAT", l.level)
	}
	ev := event.Event{Kind: event.KindAuth, Time: l.time, Result: "success", ID: ingest.ContentID("ssp", raw)}
	f := strings.Fields(l.msg)
	switch {
	case len(f) >= 1 && isSSOTag(f[0]):
		// "<type> <destination> <source> <attribute>": core:StatisticsWithAttribute. The
		// "-first" twin is written just before the plain line for the first login to an SP in
		// a session; mapping both would count one login twice.
		tag := f[0]
		if strings.HasSuffix(tag, "-first") {
			return event.Event{}, skipf("%s duplicates the line that follows it", tag)
		}
		if len(f) != 4 {
			return event.Event{}, invalid("message", "statistics line %q has %d fields, want 4 (type, destination, source, attribute)", tag, len(f))
		}
		if f[1] == "NA" {
			return event.Event{}, invalid("destination", "not logged (NA)")
		}
		if f[3] == "NA" {
			return event.Event{}, invalid("attribute", "not logged (NA): configure the statistics filter's attributename (e.g. eduPersonPrincipalName)")
		}
		ev.Service, ev.User = f[1], f[3]
		ev.Method = "sso"
		if strings.HasPrefix(tag, "passive-") {
			ev.Method = "passive"
		}
	case strings.HasPrefix(l.msg, "User '"):
		user, ip, ok := parseCredentialLine(l.msg)
		if !ok {
			return event.Event{}, skipf("statistics line is not a login")
		}
		if o.IdPService == "" {
			return event.Event{}, skipf("credential check line (IdPService not configured)")
		}
		ev.User, ev.IP, ev.Service, ev.Method = user, ip, o.IdPService, "password"
	default:
		// Other STAT lines: "Unsuccessful login attempt from IP." (SimpleSAMLphp does not log
		// the user name on failure, so it cannot be an auth event), logouts, consent, admin.
		return event.Event{}, skipf("statistics line is not a login")
	}
	ev.Org = orgOf(ev.User)
	if ev.Org == "" {
		ev.Org = o.Org
	}
	if ev.Org == "" {
		return event.Event{}, invalid("user", "%q has no realm and no default organisation is configured", ev.User)
	}
	return ev, nil
}

// isSSOTag reports whether t is a statistics type tag of an SSO: saml20-idp-SSO and its
// passive- and -first variants, and the sp/shib13 equivalents.
func isSSOTag(t string) bool {
	t = strings.TrimPrefix(t, "passive-")
	t = strings.TrimSuffix(t, "-first")
	return strings.HasSuffix(t, "-idp-SSO") || strings.HasSuffix(t, "-sp-SSO")
}

// parseCredentialLine reads "User 'x' successfully authenticated from IP" and the
// multi-organisation form "User 'x' at 'org' successfully authenticated from IP".
func parseCredentialLine(msg string) (user, ip string, ok bool) {
	rest := strings.TrimPrefix(msg, "User '")
	i := strings.Index(rest, "' ")
	if i <= 0 {
		return "", "", false
	}
	user, rest = rest[:i], rest[i+2:]
	if strings.HasPrefix(rest, "at '") {
		j := strings.Index(rest[4:], "' ")
		if j < 0 {
			return "", "", false
		}
		if org := rest[4 : 4+j]; !strings.Contains(user, "@") && org != "" {
			user += "@" + org
		}
		rest = rest[4+j+2:]
	}
	ip, ok = strings.CutPrefix(rest, "successfully authenticated from ")
	if !ok || ip == "" || strings.ContainsAny(ip, " ") {
		return "", "", false
	}
	return user, ip, true
}

// splitSSP splits the syslog or file-handler header from the SimpleSAMLphp part
// "LEVEL [STAT ][TRACKID] message".
func splitSSP(o *SimpleSAMLphpOptions, s string) (sspLine, error) {
	var l sspLine
	rest, err := sspTime(o, s, &l.time)
	if err != nil {
		return l, err
	}
	// Host and tag (syslog: "host simplesamlphp[pid]:"), or the process name (file handler:
	// "SimpleSAMLphp"). The level follows: a number (syslog) or a name (file).
	f := strings.SplitN(rest, " ", 4)
	l.level = -1
	for i := 1; i < len(f) && i < 3; i++ {
		if n, ok := sspLevel(f[i]); ok {
			l.level, rest = n, strings.Join(f[i+1:], " ")
			break
		}
	}
	if l.level < 0 {
		return l, invalid("level", "no SimpleSAMLphp log level (0-7 or NOTICE, INFO, ...) after the header")
	}
	if r, ok := strings.CutPrefix(rest, "STAT "); ok {
		l.stat, rest = true, r
	}
	if !strings.HasPrefix(rest, "[") {
		return l, invalid("trackid", "missing [TRACKID] after the level")
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return l, invalid("trackid", "unterminated [TRACKID]")
	}
	l.trackID, l.msg = rest[1:end], strings.TrimSpace(rest[end+1:])
	return l, nil
}

func sspLevel(s string) (int, bool) {
	if len(s) == 1 && s[0] >= '0' && s[0] <= '7' {
		return int(s[0] - '0'), true
	}
	n, ok := sspLevels[s]
	return n, ok
}

// sspTime reads the timestamp at the start of s into t and returns the rest after the space
// that ends it. Two forms: RFC 3339 with offset (rsyslog's high-precision format), and the
// classic "Jan _2 15:04:05" (syslog, space-padded day) or "Jan 2 15:04:05" (file handler).
func sspTime(o *SimpleSAMLphpOptions, s string, t *time.Time) (string, error) {
	if len(s) > 0 && s[0] >= '0' && s[0] <= '9' {
		tok, rest, _ := strings.Cut(s, " ")
		tt, err := time.Parse(time.RFC3339Nano, tok)
		if err != nil {
			return "", invalid("time", "%q is not an RFC 3339 time", tok)
		}
		if y := tt.UTC().Year(); y < 1 || y > 9999 {
			return "", invalid("time", "%q is outside years 0001-9999", tok)
		}
		*t = tt.UTC()
		return rest, nil
	}
	f := strings.Fields(firstN(s, 32))
	if len(f) < 3 {
		return "", invalid("time", "no syslog timestamp (Mon DD HH:MM:SS) at the start")
	}
	mon, err := time.Parse("Jan", f[0])
	if err != nil {
		return "", invalid("time", "%q is not a month", f[0])
	}
	day, err := strconv.Atoi(f[1])
	if err != nil || day < 1 || day > 31 {
		return "", invalid("time", "%q is not a day of the month", f[1])
	}
	clock, err := time.Parse(time.TimeOnly, f[2])
	if err != nil {
		return "", invalid("time", "%q is not HH:MM:SS", f[2])
	}
	tt, ok := withYear(o.Now(), o.Location, mon.Month(), day, clock)
	if !ok {
		return "", invalid("time", "%s %d is not a date in the years around the reference clock", f[0], day)
	}
	*t = tt.UTC()
	// Skip past the three timestamp fields, whatever the padding between them.
	i := strings.Index(s, f[2]) + len(f[2])
	return strings.TrimLeft(s[i:], " "), nil
}

func firstN(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// syslogFuture is how far after the reference clock a timestamp without a year may lie before
// it is taken to be from the year before (clocks differ; files are read a little late).
const syslogFuture = 7 * 24 * time.Hour

// withYear gives a timestamp without a year the latest year in which it is no more than
// syslogFuture after now: a December line read in early January is last year's, a January
// line read on 31 December (a fast source clock) is next year's. 29 February looks back to
// the last leap year. ok is false when the date exists in none of the years tried.
func withYear(now time.Time, loc *time.Location, m time.Month, day int, clock time.Time) (time.Time, bool) {
	now = now.In(loc)
	for y := now.Year() + 1; y >= now.Year()-8; y-- {
		t := time.Date(y, m, day, clock.Hour(), clock.Minute(), clock.Second(), 0, loc)
		if t.Month() != m || t.Day() != day { // 29 Feb in a common year, 31 Apr
			continue
		}
		if !t.After(now.Add(syslogFuture)) {
			return t, true
		}
	}
	return time.Time{}, false
}
