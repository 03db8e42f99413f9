package kafka_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"breachd/ingest/kafka"
)

func TestConfigValidation(t *testing.T) {
	valid := func() kafka.Config {
		return kafka.Config{Brokers: []string{"kafka-1:9093"}, Topics: []string{"feide-auth"}, GroupID: "breachd", Logger: discard}
	}
	cases := []struct {
		name   string
		modify func(*kafka.Config)
		want   []string // substrings of the error; none: valid
	}{
		{"valid", func(*kafka.Config) {}, nil},
		{"valid full", func(c *kafka.Config) {
			c.Batch, c.BatchWait, c.MinBytes, c.MaxBytes, c.StartOffset = 5000, time.Second, 1024, 50<<20, kafka.StartLast
			c.SASL = kafka.SASL{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}
		}, nil},
		{"no brokers", func(c *kafka.Config) { c.Brokers = nil }, []string{"brokers: at least one"}},
		{"broker without port", func(c *kafka.Config) { c.Brokers = []string{"kafka-1"} }, []string{`brokers[0] "kafka-1": want host:port`}},
		{"no topics", func(c *kafka.Config) { c.Topics = nil }, []string{"topics: at least one"}},
		{"empty and repeated topics", func(c *kafka.Config) { c.Topics = []string{"a", "", "a"} },
			[]string{"topics[1]: empty", `topics[2] "a": listed twice`}},
		{"no group", func(c *kafka.Config) { c.GroupID = " " }, []string{"group: a consumer group id is required"}},
		{"batch too large", func(c *kafka.Config) { c.Batch = kafka.MaxBatch + 1 }, []string{"batch 100001"}},
		{"negative batch", func(c *kafka.Config) { c.Batch = -1 }, []string{"batch -1"}},
		{"negative wait", func(c *kafka.Config) { c.BatchWait = -time.Second }, []string{"batch wait -1s"}},
		{"min above max", func(c *kafka.Config) { c.MinBytes, c.MaxBytes = 2<<20, 1<<20 }, []string{"min bytes 2097152, max bytes 1048576"}},
		{"start offset", func(c *kafka.Config) { c.StartOffset = "earliest" }, []string{`start offset "earliest": want "first" or "last"`}},
		{"retry", func(c *kafka.Config) { c.RetryMin, c.RetryMax = time.Second, time.Millisecond }, []string{"retry min 1s, max 1ms"}},
		{"unknown mechanism", func(c *kafka.Config) { c.SASL = kafka.SASL{Mechanism: "gssapi", Username: "u", Password: "hunter2"} },
			[]string{`sasl mechanism "gssapi": want plain, scram-sha-256 or scram-sha-512`}},
		{"mechanism without password", func(c *kafka.Config) { c.SASL = kafka.SASL{Mechanism: "plain", Username: "u"} },
			[]string{"sasl plain: username and password are required"}},
		{"credentials without mechanism", func(c *kafka.Config) { c.SASL = kafka.SASL{Username: "u", Password: "hunter2"} },
			[]string{"sasl: username or password given without a mechanism"}},
		{"several at once", func(c *kafka.Config) { c.Brokers, c.GroupID = nil, "" }, []string{"brokers:", "group:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.modify(&cfg)
			_, err := kafka.New(cfg)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New accepted the config, want an error with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "kafka source config: ") {
				t.Errorf("error %q does not say which config it is about", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestTLSConfigErrors(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The client's private key, readable by every user of the host.
	openKey := filepath.Join(dir, "open-key.pem")
	if key, err := os.ReadFile(p.keyFile); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(openKey, key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(openKey, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name              string
		ca, cert, key     string
		want              string
		wantCA, wantCerts bool
	}{
		{name: "system roots, no client certificate"},
		{name: "ca only", ca: p.caFile, wantCA: true},
		{name: "mutual", ca: p.caFile, cert: p.certFile, key: p.keyFile, wantCA: true, wantCerts: true},
		{name: "missing ca", ca: filepath.Join(dir, "nope.pem"), want: "kafka tls ca: open"},
		{name: "ca not PEM", ca: notPEM, want: "no PEM certificate in it"},
		{name: "cert without key", cert: p.certFile, want: "must be given together"},
		{name: "key without cert", key: p.keyFile, want: "must be given together"},
		{name: "key does not match", cert: p.certFile, key: p.caFile, want: "kafka tls client certificate:"},
		{name: "key readable by others", cert: p.certFile, key: openKey, want: "kafka tls client key: secret file " + openKey + " is readable by group or others (mode 0644); it must be private to its owner: chmod 600 " + openKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := kafka.TLSConfig(tc.ca, tc.cert, tc.key, false)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("TLSConfig error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (c.RootCAs != nil) != tc.wantCA || (len(c.Certificates) == 1) != tc.wantCerts || c.InsecureSkipVerify {
				t.Errorf("config: roots %v, %d certificates, insecure %v", c.RootCAs != nil, len(c.Certificates), c.InsecureSkipVerify)
			}
		})
	}
}
