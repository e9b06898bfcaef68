package config

import (
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
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testPKI is a CA with a server and a client certificate, written as PEM
// files the way an operator would provide them.
type testPKI struct {
	caFile, certFile, keyFile string
	server                    tls.Certificate
	caPool                    *x509.CertPool
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mdc test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) ([]byte, []byte, tls.Certificate) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames: []string{cn},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalECPrivateKey(key)
		require.NoError(t, err)
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		require.NoError(t, err)
		return certPEM, keyPEM, pair
	}
	_, _, server := issue(2, "temporal.test", x509.ExtKeyUsageServerAuth)
	clientCert, clientKey, _ := issue(3, "mdc-worker", x509.ExtKeyUsageClientAuth)

	p := testPKI{
		caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "client.pem"),
		keyFile: filepath.Join(dir, "client-key.pem"), server: server, caPool: x509.NewCertPool(),
	}
	p.caPool.AddCert(ca)
	require.NoError(t, os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
	require.NoError(t, os.WriteFile(p.certFile, clientCert, 0o600))
	require.NoError(t, os.WriteFile(p.keyFile, clientKey, 0o600))
	return p
}

// handshake runs a TLS server that requires a client certificate from the
// test CA and dials it with cfg; it returns the client's common name as the
// server saw it.
func handshake(t *testing.T, p testPKI, cfg *tls.Config) (string, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{p.server}, ClientCAs: p.caPool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	peer := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			peer <- ""
			return
		}
		defer conn.Close()
		tc := conn.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if tc.Handshake() != nil || len(tc.ConnectionState().PeerCertificates) == 0 {
			peer <- ""
			return
		}
		peer <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
	}()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), cfg)
	if err != nil {
		<-peer
		return "", err
	}
	defer conn.Close()
	return <-peer, nil
}

func TestTemporalOptionsPlaintext(t *testing.T) {
	c := &Config{TemporalAddress: "127.0.0.1:7233", TemporalNamespace: "default"}
	opts, err := c.TemporalClientOptions()
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:7233", opts.HostPort)
	require.Equal(t, "default", opts.Namespace)
	require.Nil(t, opts.ConnectionOptions.TLS)
	require.Nil(t, opts.Credentials)
}

func TestTemporalOptionsMutualTLS(t *testing.T) {
	p := newTestPKI(t)
	c := &Config{
		TemporalAddress: "127.0.0.1:7233", TemporalNamespace: "mdc",
		TemporalTLSCert: p.certFile, TemporalTLSKey: p.keyFile, TemporalTLSCA: p.caFile,
		TemporalTLSServerName: "temporal.test",
	}
	opts, err := c.TemporalClientOptions()
	require.NoError(t, err)
	tlsCfg := opts.ConnectionOptions.TLS
	require.NotNil(t, tlsCfg)
	require.Equal(t, "temporal.test", tlsCfg.ServerName)
	require.Len(t, tlsCfg.Certificates, 1)

	cn, err := handshake(t, p, tlsCfg)
	require.NoError(t, err)
	require.Equal(t, "mdc-worker", cn, "the server verified our client certificate")

	// Without the CA the server's certificate must not be trusted.
	c.TemporalTLSCA = ""
	opts, err = c.TemporalClientOptions()
	require.NoError(t, err)
	_, err = handshake(t, p, opts.ConnectionOptions.TLS)
	require.ErrorContains(t, err, "certificate signed by unknown authority")
}

func TestTemporalOptionsAPIKeyTurnsOnTLS(t *testing.T) {
	c := &Config{TemporalAddress: "ns.tmprl.cloud:7233", TemporalNamespace: "ns", TemporalAPIKey: "k"}
	opts, err := c.TemporalClientOptions()
	require.NoError(t, err)
	require.NotNil(t, opts.ConnectionOptions.TLS)
	require.NotNil(t, opts.Credentials)
}

func TestTemporalOptionsFileErrors(t *testing.T) {
	p := newTestPKI(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))

	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing CA", Config{TemporalTLSCA: missing},
			"MDC_TEMPORAL_TLS_CA: read CA bundle: open " + missing + ": no such file or directory"},
		{"CA not PEM", Config{TemporalTLSCA: notPEM},
			"MDC_TEMPORAL_TLS_CA: " + notPEM + " holds no PEM certificate"},
		{"missing cert", Config{TemporalTLSCert: missing, TemporalTLSKey: p.keyFile},
			"MDC_TEMPORAL_TLS_CERT: read client certificate: open " + missing + ": no such file or directory"},
		{"missing key", Config{TemporalTLSCert: p.certFile, TemporalTLSKey: missing},
			"MDC_TEMPORAL_TLS_KEY: read client key: open " + missing + ": no such file or directory"},
		{"key is not the cert's", Config{TemporalTLSCert: p.certFile, TemporalTLSKey: p.caFile},
			"MDC_TEMPORAL_TLS_CERT/MDC_TEMPORAL_TLS_KEY: " + p.certFile + " and " + p.caFile +
				" are not a certificate and its key: tls: found a certificate rather than a key in the PEM for the private key"},
		{"cert without key", Config{TemporalTLSCert: p.certFile},
			"MDC_TEMPORAL_TLS_CERT and MDC_TEMPORAL_TLS_KEY go together; MDC_TEMPORAL_TLS_CERT is set but MDC_TEMPORAL_TLS_KEY is not"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cfg.TemporalClientOptions()
			require.EqualError(t, err, tc.want)
		})
	}
}

func TestNATSOptions(t *testing.T) {
	opts, err := (&Config{}).NATSOptions()
	require.NoError(t, err)
	require.Empty(t, opts)
	opts, err = (&Config{NATSUser: "u", NATSPassword: "p"}).NATSOptions()
	require.NoError(t, err)
	require.Len(t, opts, 1)
	missing := filepath.Join(t.TempDir(), "x.creds")
	_, err = (&Config{NATSCredsFile: missing}).NATSOptions()
	require.EqualError(t, err, "MDC_NATS_CREDS_FILE: stat "+missing+": no such file or directory")
}
