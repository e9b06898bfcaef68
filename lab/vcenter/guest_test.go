package vcenter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi/vim25/mo"
)

func TestSetGuestIPIsWhatWaitForIPReturns(t *testing.T) {
	integration(t)
	v := startVC(t, testOptions("uk", ukAddr, ""))
	states := watchVC(t, v)
	c := login(t, v)
	vm := findVM(t, c, v, "uk-web-1")

	require.NoError(t, v.SetGuestIP(testCtx(t), "uk-web-1", "127.51.0.10"))
	require.NoError(t, v.SetGuestIP(testCtx(t), "uk-web-1", "127.51.0.10")) // idempotent
	ctx, cancel := context.WithTimeout(testCtx(t), 5*time.Second)
	defer cancel()
	ip, err := vm.WaitForIP(ctx, true)
	require.NoError(t, err)
	require.Equal(t, "127.51.0.10", ip)

	var got mo.VirtualMachine
	require.NoError(t, vm.Properties(testCtx(t), vm.Reference(), []string{"guest.net", "summary.guest"}, &got))
	require.Equal(t, []string{"127.51.0.10"}, got.Guest.Net[0].IpAddress)
	require.Equal(t, "127.51.0.10", got.Summary.Guest.IpAddress)
	next(t, states, "uk-web-1", func(s VMState) bool { return s.IP == "127.51.0.10" })

	// A new address replaces the old one.
	require.NoError(t, v.SetGuestIP(testCtx(t), "uk-web-1", "127.51.0.11"))
	ip, err = vm.WaitForIP(ctx, true)
	require.NoError(t, err)
	require.Equal(t, "127.51.0.11", ip)

	require.ErrorContains(t, v.SetGuestIP(testCtx(t), "uk-web-1", "not-an-ip"), "not an IP address")
	require.ErrorContains(t, v.SetGuestIP(testCtx(t), "no-such-vm", "127.51.0.12"), `find VM "no-such-vm"`)

	// The cached session is replaced after the site comes back.
	v.Stop()
	require.NoError(t, v.Revive(testCtx(t)))
	require.NoError(t, v.SetGuestIP(testCtx(t), "uk-web-2", "127.51.0.13"))
}
