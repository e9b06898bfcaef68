package tests

import (
	"net/netip"

	"github.com/microdc/mdc/dnsquery"

	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/devstack"
	"github.com/microdc/mdc/embedded"
	"github.com/microdc/mdc/lab"
)

// startStack runs the dev stack in this process with its lab at
// 127.base/127.(base+1), on free ports.
func startStack(t *testing.T, base int) *devstack.Stack {
	t.Helper()
	ports := make([]int, 3)
	for i := range ports {
		p, err := embedded.FreePort("127.0.0.1")
		require.NoError(t, err)
		ports[i] = p
	}
	plan := lab.DefaultPlan()
	plan.Base = base
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := devstack.Start(ctx, devstack.Options{
		StateDir: dir, GRPCPort: ports[0], UIPort: 0, NATSPort: ports[2], Namespace: "default", Lab: true, Logger: logger,
		LabOptions: lab.Options{Dir: dir + "/lab", Sites: []string{"uk", "us"}, Plan: plan, Zone: "mdc.test.", InitialWeb: 2},
	})
	require.NoError(t, err)
	t.Cleanup(st.Stop)
	return st
}

// geoAnswer asks server for name as a client of subnet would.
func geoAnswer(t *testing.T, server, name, subnet string) []string {
	t.Helper()
	ips, err := dnsquery.A(context.Background(), server, name, netip.MustParsePrefix(subnet))
	if err != nil {
		return []string{err.Error()}
	}
	return ips
}
