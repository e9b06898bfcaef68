package tests

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"
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
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	_, ipnet, err := net.ParseCIDR(subnet)
	require.NoError(t, err)
	ones, _ := ipnet.Mask.Size()
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(ones), Address: ipnet.IP})
	m.Extra = append(m.Extra, o)
	r, err := dns.Exchange(m, server)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}
