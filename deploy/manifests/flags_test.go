package manifests

import (
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// flagValues returns the values of --name in args (--name V or --name=V), in order.
func flagValues(args []string, name string) []string {
	var vals []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--"+name && i+1 < len(args):
			vals = append(vals, args[i+1])
			i++
		case strings.HasPrefix(a, "--"+name+"="):
			vals = append(vals, strings.TrimPrefix(a, "--"+name+"="))
		}
	}
	return vals
}

// flagValue is the one value of --name in args, "" when it is not given; more than one fails t.
func flagValue(t *testing.T, where string, args []string, name string) string {
	t.Helper()
	vals := flagValues(args, name)
	if len(vals) > 1 {
		t.Errorf("%s: --%s given %d times", where, name, len(vals))
	}
	if len(vals) == 0 {
		return ""
	}
	return vals[0]
}

// addrPort is the port of a host:port flag value (0 and a failure when it has none).
func addrPort(t *testing.T, where, flag, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(p)
	if err != nil || perr != nil {
		t.Errorf("%s: --%s %q: want host:port", where, flag, addr)
		return 0
	}
	return n
}

// endpoint is one server of a --nats or --clickhouse URL.
type endpoint struct {
	user, host string
	port       int
}

// natsEndpoints parses a --nats value: comma-separated nats:// URLs, each with a user and a
// password (the manifests log every process in as a user of the account).
func natsEndpoints(t *testing.T, where, v string) []endpoint {
	t.Helper()
	var eps []endpoint
	for _, s := range strings.Split(v, ",") {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "nats" || u.User == nil {
			t.Errorf("%s: --nats element %q: want nats://user:password@host:port", where, redact(s))
			continue
		}
		if pw, ok := u.User.Password(); !ok || pw == "" {
			t.Errorf("%s: --nats element %q has no password", where, redact(s))
		}
		p, _ := strconv.Atoi(u.Port())
		eps = append(eps, endpoint{user: u.User.Username(), host: u.Hostname(), port: p})
	}
	return eps
}

// clickhouseEndpoint parses a --clickhouse value: clickhouse://user:password@host:9000/breachd.
func clickhouseEndpoint(t *testing.T, where, v string) endpoint {
	t.Helper()
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "clickhouse" || u.User == nil || u.Path != "/breachd" {
		t.Errorf("%s: --clickhouse %q: want clickhouse://user:password@host:port/breachd", where, redact(v))
		return endpoint{}
	}
	if pw, ok := u.User.Password(); !ok || pw == "" {
		t.Errorf("%s: --clickhouse has no password", where)
	}
	p, _ := strconv.Atoi(u.Port())
	return endpoint{user: u.User.Username(), host: u.Hostname(), port: p}
}

var userinfo = regexp.MustCompile(`//[^@/]*@`)

// redact drops the user information of the URLs in s, for messages.
func redact(s string) string { return userinfo.ReplaceAllString(s, "//…@") }

// stageCommand reports whether args run stages (they take --replicas, --metrics-addr).
func stageCommand(args []string) bool {
	return len(args) > 0 && (args[0] == "run" || args[0] == "detect")
}

// bucketCommand reports whether args create streams or key-value buckets, and so take
// --replicas: the stages, and serve (the API's sessions and prefs buckets).
func bucketCommand(args []string) bool {
	return stageCommand(args) || len(args) > 0 && args[0] == "serve"
}

// checkMembers checks the detector sets of cmds (args by where): for --members n, every
// --member 0..n-1 exactly once, all with the same n.
func checkMembers(t *testing.T, cmds map[string][]string) {
	t.Helper()
	members := map[int]string{}
	n := -1
	for where, args := range cmds {
		if len(args) == 0 || args[0] != "detect" {
			continue
		}
		m, err1 := strconv.Atoi(flagValue(t, where, args, "member"))
		k, err2 := strconv.Atoi(flagValue(t, where, args, "members"))
		if err1 != nil || err2 != nil {
			t.Errorf("%s: detect without --member and --members", where)
			continue
		}
		if n >= 0 && k != n {
			t.Errorf("%s: --members %d, others %d", where, k, n)
		}
		n = k
		if other, dup := members[m]; dup {
			t.Errorf("--member %d twice: %s and %s (a member's standby is a replica of the same service, not another)", m, other, where)
		}
		members[m] = where
	}
	if n < 2 {
		t.Fatalf("want a detector set of 2 or more members, got %d", n)
	}
	for m := range n {
		if members[m] == "" {
			t.Errorf("no detector runs --member %d of %d", m, n)
		}
	}
}
