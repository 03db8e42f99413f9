package kafka_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/twmb/franz-go/pkg/kfake"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/ingest/kafka"
)

// pki is a throw-away CA with a server certificate for 127.0.0.1 and a client certificate,
// written as PEM files.
type pki struct {
	caFile, certFile, keyFile string // client side
	server                    *tls.Config
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "breachd test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage, ip net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "breachd test"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		if ip != nil {
			tmpl.IPAddresses = []net.IP{ip}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	srvDER, srvKey := issue(2, x509.ExtKeyUsageServerAuth, net.IPv4(127, 0, 0, 1))
	cliDER, cliKey := issue(3, x509.ExtKeyUsageClientAuth, nil)
	cliKeyDER, err := x509.MarshalECPrivateKey(cliKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pki{
		caFile:   write("ca.pem", "CERTIFICATE", caDER),
		certFile: write("client.pem", "CERTIFICATE", cliDER),
		keyFile:  write("client-key.pem", "EC PRIVATE KEY", cliKeyDER),
		server: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}},
			ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12,
		},
	}
}

// Over mutual TLS, with each SASL mechanism, the source authenticates to the broker and
// consumes every event; with a wrong password Run fails with an error that names the
// authentication failure and does not contain the password.
func TestTLSAndSASL(t *testing.T) {
	p := newPKI(t)
	clientTLS, err := kafka.TLSConfig(p.caFile, p.certFile, p.keyFile, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, mech := range []string{kafka.SASLPlain, kafka.SASLScramSHA256, kafka.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			s := bustest.Start(t)
			// The producer is a second user that always uses PLAIN; the source uses mech.
			brokers := startKafka(t, kfake.TLS(p.server), kfake.EnableSASL(),
				kfake.Superuser(strings.ToUpper(mech), "breachd", "correct horse"),
				kfake.Superuser("PLAIN", "producer", "producer secret"))
			values, ids := lines(t, "tls", 300, nil)
			msgs := make([]kafkago.Message, len(values))
			for i, v := range values {
				msgs[i] = kafkago.Message{Value: v}
			}
			write := func(tr *kafkago.Transport) error {
				w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Topic: topic, RequiredAcks: kafkago.RequireAll,
					BatchTimeout: 5 * time.Millisecond, Transport: tr}
				defer w.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return w.WriteMessages(ctx, msgs...)
			}
			// The broker demands SASL: a client without it must be refused, or the test proves nothing.
			if err := write(&kafkago.Transport{TLS: clientTLS}); err == nil {
				t.Fatal("broker accepted a producer without SASL")
			}
			if err := write(&kafkago.Transport{TLS: clientTLS, SASL: plain.Mechanism{Username: "producer", Password: "producer secret"}}); err != nil {
				t.Fatalf("produce over TLS+SASL: %v", err)
			}

			cfg := config(brokers, "breachd-secure")
			cfg.TLS = clientTLS
			cfg.SASL = kafka.SASL{Mechanism: mech, Username: "breachd", Password: "correct horse"}
			src, err := kafka.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := start(t, context.Background(), src, pipeline(t, s))
			waitFor(t, "every event in EVENTS", func() bool { return s.Count(t, bus.StreamEvents) == uint64(len(ids)) })
			r.stop(t)
			sameIDs(t, storedIDs(t, s), ids)

			cfg.SASL.Password = "wrong horse"
			cfg.Registerer = nil
			bad, err := kafka.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer rcancel()
			err = bad.Run(rctx, pipeline(t, s))
			if err == nil || rctx.Err() != nil {
				t.Fatalf("Run with a wrong password: %v (ctx %v), want an authentication error", err, rctx.Err())
			}
			t.Logf("wrong password: %v", err)
			if !strings.Contains(err.Error(), "SASL") || strings.Contains(err.Error(), "wrong horse") {
				t.Errorf("error %q: want one naming SASL and not containing the password", err)
			}
		})
	}
}
