package ldap_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

const (
	slapdPath  = "/usr/sbin/slapd"
	suffix     = "dc=school,dc=no"
	rootDN     = "cn=admin," + suffix
	rootPW     = "root-secret"
	serviceDN  = "cn=breachd," + suffix
	servicePW  = "service-secret"
	eduPersonS = `attributetype ( 1.3.6.1.4.1.5923.1.1.1.6 NAME 'eduPersonPrincipalName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.5923.1.1.2 NAME 'eduPerson' AUXILIARY MAY ( eduPersonPrincipalName ) )
`
)

// slapdConf: core schemas from Debian, a one-attribute eduPerson schema, an mdb database,
// the ppolicy overlay (it defines pwdAccountLockedTime and enforces it through a default
// policy), and ACLs that let only the service
// account manage the lock attribute.
const slapdConf = `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include {{DIR}}/edu.schema
modulepath /usr/lib/ldap
moduleload back_mdb.la
moduleload ppolicy.la
pidfile {{DIR}}/slapd.pid
database mdb
maxsize 10485760
suffix "` + suffix + `"
rootdn "` + rootDN + `"
rootpw ` + rootPW + `
directory {{DIR}}/db
overlay ppolicy
ppolicy_default "cn=default,ou=policies,` + suffix + `"
access to attrs=pwdAccountLockedTime by dn.exact="` + serviceDN + `" manage by * read
access to * by dn.exact="` + serviceDN + `" read by anonymous auth by * read
`

// startSlapd runs Debian's slapd on a free loopback port with a fresh database holding the
// given eduPersonPrincipalNames, and returns its URL. tb.Cleanup stops it.
func startSlapd(tb testing.TB, principals ...string) string {
	tb.Helper()
	if _, err := os.Stat(slapdPath); err != nil {
		tb.Fatalf("%s not found: run scripts/setup.sh (apt-get install slapd): %v", slapdPath, err)
	}
	dir := tb.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		tb.Fatal(err)
	}
	conf := bytes.ReplaceAll([]byte(slapdConf), []byte("{{DIR}}"), []byte(dir))
	for name, data := range map[string][]byte{"slapd.conf": conf, "edu.schema": []byte(eduPersonS)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	var url string
	var lastErr error
	for range 5 { // the free port may be taken between probing and slapd binding it
		url = "ldap://" + freePort(tb) + "/"
		var out bytes.Buffer
		cmd := exec.Command(slapdPath, "-f", filepath.Join(dir, "slapd.conf"), "-h", url, "-d", "0")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			tb.Fatalf("start slapd: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if lastErr = waitReady(url, exited); lastErr == nil {
			tb.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
			})
			addEntries(tb, url, principals)
			return url
		}
		_ = cmd.Process.Kill()
		<-exited
		lastErr = fmt.Errorf("%w; slapd output: %s", lastErr, out.String())
	}
	tb.Fatalf("slapd did not start: %v", lastErr)
	return ""
}

func freePort(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(url string, exited <-chan error) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("slapd exited: %v", err)
		default:
		}
		if c, err := goldap.DialURL(url); err == nil {
			err = c.Bind(rootDN, rootPW)
			c.Close()
			if err == nil {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("slapd at %s not answering after 15 s", url)
}

func addEntries(tb testing.TB, url string, principals []string) {
	tb.Helper()
	c, err := goldap.DialURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(rootDN, rootPW); err != nil {
		tb.Fatal(err)
	}
	add := func(dn string, attrs map[string][]string) {
		r := goldap.NewAddRequest(dn, nil)
		for k, v := range attrs {
			r.Attribute(k, v)
		}
		if err := c.Add(r); err != nil {
			tb.Fatalf("add %s: %v", dn, err)
		}
	}
	add(suffix, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"school"}, "o": {"School"}})
	add("ou=people,"+suffix, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}})
	add("ou=policies,"+suffix, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"policies"}})
	add("cn=default,ou=policies,"+suffix, map[string][]string{"objectClass": {"device", "pwdPolicy"}, "cn": {"default"},
		"pwdAttribute": {"userPassword"}, "pwdLockout": {"TRUE"}})
	add(serviceDN, map[string][]string{"objectClass": {"person"}, "cn": {"breachd"}, "sn": {"service"}, "userPassword": {servicePW}})
	for i, p := range principals {
		uid := fmt.Sprintf("user%d", i)
		add("uid="+uid+",ou=people,"+suffix, map[string][]string{
			"objectClass": {"inetOrgPerson", "eduPerson"}, "uid": {uid}, "cn": {uid}, "sn": {uid},
			"eduPersonPrincipalName": {p}, "userPassword": {"pw-" + uid},
		})
	}
}

// lockedTime reads pwdAccountLockedTime of the entry with principal p ("" when absent).
func lockedTime(tb testing.TB, url, p string) string {
	tb.Helper()
	c, err := goldap.DialURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(rootDN, rootPW); err != nil {
		tb.Fatal(err)
	}
	sr, err := c.Search(goldap.NewSearchRequest(suffix, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
		"(eduPersonPrincipalName="+goldap.EscapeFilter(p)+")", []string{"pwdAccountLockedTime"}, nil))
	if err != nil || len(sr.Entries) != 1 {
		tb.Fatalf("read back %s: %v (%d entries)", p, err, len(sr.Entries))
	}
	return sr.Entries[0].GetAttributeValue("pwdAccountLockedTime")
}

// canBind reports whether the user with uid can bind with its password.
func canBind(tb testing.TB, url, uid string) bool {
	tb.Helper()
	c, err := goldap.DialURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	return c.Bind("uid="+uid+",ou=people,"+suffix, "pw-"+uid) == nil
}
