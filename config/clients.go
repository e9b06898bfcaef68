package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/nats-io/nats.go"
	"go.temporal.io/sdk/client"
)

// Logger builds the process logger from MDC_LOG_LEVEL and MDC_LOG_FORMAT.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		level = slog.LevelInfo // Load rejects bad levels; a hand-built Config gets info
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// TemporalClientOptions returns the options to dial Temporal with: address,
// namespace, TLS when any TLS variable or an API key is set, and API key
// credentials. Callers add a Logger (log.NewStructuredLogger).
func (c *Config) TemporalClientOptions() (client.Options, error) {
	opts := client.Options{HostPort: c.TemporalAddress, Namespace: c.TemporalNamespace}
	tlsCfg, err := c.temporalTLS()
	if err != nil {
		return client.Options{}, err
	}
	opts.ConnectionOptions.TLS = tlsCfg
	if c.TemporalAPIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(c.TemporalAPIKey)
	}
	return opts, nil
}

// temporalTLS builds the TLS configuration, or nil for plaintext. An API
// key without TLS would be sent in the clear, so it turns TLS on too.
func (c *Config) temporalTLS() (*tls.Config, error) {
	if c.TemporalTLSCert == "" && c.TemporalTLSKey == "" && c.TemporalTLSCA == "" &&
		c.TemporalTLSServerName == "" && c.TemporalAPIKey == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TemporalTLSServerName}
	if c.TemporalTLSCA != "" {
		pem, err := os.ReadFile(c.TemporalTLSCA)
		if err != nil {
			return nil, fmt.Errorf("MDC_TEMPORAL_TLS_CA: read CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("MDC_TEMPORAL_TLS_CA: %s holds no PEM certificate", c.TemporalTLSCA)
		}
		cfg.RootCAs = pool
	}
	if c.TemporalTLSCert != "" || c.TemporalTLSKey != "" {
		if c.TemporalTLSCert == "" || c.TemporalTLSKey == "" {
			return nil, fmt.Errorf("MDC_TEMPORAL_TLS_CERT and MDC_TEMPORAL_TLS_KEY go together; %s",
				onlyOneSet("MDC_TEMPORAL_TLS_CERT", c.TemporalTLSCert, "MDC_TEMPORAL_TLS_KEY"))
		}
		certPEM, err := os.ReadFile(c.TemporalTLSCert)
		if err != nil {
			return nil, fmt.Errorf("MDC_TEMPORAL_TLS_CERT: read client certificate: %w", err)
		}
		keyPEM, err := os.ReadFile(c.TemporalTLSKey)
		if err != nil {
			return nil, fmt.Errorf("MDC_TEMPORAL_TLS_KEY: read client key: %w", err)
		}
		// X509KeyPair's errors describe the PEM structure, never the key.
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("MDC_TEMPORAL_TLS_CERT/MDC_TEMPORAL_TLS_KEY: %s and %s are not a certificate and its key: %w",
				c.TemporalTLSCert, c.TemporalTLSKey, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// NATSOptions returns the authentication options for nats.Connect (URL is
// c.NATSURL); callers add their own name and handlers.
func (c *Config) NATSOptions() ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case c.NATSCredsFile != "":
		if _, err := os.Stat(c.NATSCredsFile); err != nil {
			return nil, fmt.Errorf("MDC_NATS_CREDS_FILE: %w", err)
		}
		opts = append(opts, nats.UserCredentials(c.NATSCredsFile))
	case c.NATSUser != "":
		opts = append(opts, nats.UserInfo(c.NATSUser, c.NATSPassword))
	case c.NATSToken != "":
		opts = append(opts, nats.Token(c.NATSToken))
	}
	return opts, nil
}
