package embedded

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// NATSOptions says where the embedded NATS server listens and stores JetStream.
type NATSOptions struct {
	IP   string
	Port int
	// StoreDir holds JetStream streams; empty keeps them in a temp dir that
	// is removed on Stop (tests).
	StoreDir string
}

// NATS is a running in-process nats-server with JetStream.
type NATS struct {
	srv     *natsserver.Server
	tempDir string
	URL     string
}

// StartNATS starts nats-server in this process and waits until it accepts clients.
func StartNATS(o NATSOptions) (*NATS, error) {
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	n := &NATS{}
	if o.StoreDir == "" {
		d, err := os.MkdirTemp("", "mdc-jetstream-")
		if err != nil {
			return nil, err
		}
		o.StoreDir, n.tempDir = d, d
	}
	if o.Port == 0 {
		p, err := FreePort(o.IP)
		if err != nil {
			return nil, err
		}
		o.Port = p
	}
	srv, err := natsserver.NewServer(&natsserver.Options{
		Host:      o.IP,
		Port:      o.Port,
		JetStream: true,
		StoreDir:  o.StoreDir,
		NoSigs:    true,
		// Monitoring and cluster ports stay closed: nothing here needs them and
		// every open port is one more thing to collide with.
		HTTPPort: 0,
	})
	if err != nil {
		return nil, fmt.Errorf("configure nats-server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("nats-server on %s did not become ready within 10s", net.JoinHostPort(o.IP, strconv.Itoa(o.Port)))
	}
	n.srv = srv
	n.URL = srv.ClientURL()
	return n, nil
}

// Stop shuts the server down and waits for it.
func (n *NATS) Stop() {
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	if n.tempDir != "" {
		_ = os.RemoveAll(n.tempDir)
	}
}
