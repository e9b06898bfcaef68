package vsphere

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/apperrors"
)

func TestFenceSiteWithTheOtherSiteDead(t *testing.T) {
	integration(t)
	l := startLab(t, true)
	ctx := testCtx(t)

	// The us site dies; fencing it is a result, quickly.
	l.vc["us"].Stop()
	begin := time.Now()
	dead, err := l.a.FenceSite(ctx, FenceSiteInput{Site: "us"})
	require.NoError(t, err)
	require.True(t, dead.Unreachable)
	require.Contains(t, dead.Reason, "127.55.0.1:8989")
	require.Empty(t, dead.PoweredOff)
	require.Less(t, time.Since(begin), 2*time.Second)
	t.Logf("fencing a dead site answered in %s", time.Since(begin))

	// The live site is fenced, except what is excluded; templates are left alone.
	in := FenceSiteInput{Site: "uk", Exclude: []string{"uk-db-1"}}
	begin = time.Now()
	res, err := l.a.FenceSite(ctx, in)
	require.NoError(t, err)
	t.Logf("fencing 2 running VMs took %s", time.Since(begin).Round(time.Millisecond))
	require.False(t, res.Unreachable)
	require.Equal(t, []string{"uk-web-1", "uk-web-2"}, res.PoweredOff)
	require.Empty(t, res.AlreadyOff)
	require.Empty(t, res.UnreachableVMs)
	require.Equal(t, types.VirtualMachinePowerStatePoweredOn, vmState(t, l.vc["uk"], "uk-db-1").Runtime.PowerState)

	again, err := l.a.FenceSite(ctx, in)
	require.NoError(t, err)
	require.Empty(t, again.PoweredOff)
	require.Equal(t, []string{"uk-web-1", "uk-web-2"}, again.AlreadyOff)

	// By tags: only the db VMs.
	db, err := l.a.FenceSite(ctx, FenceSiteInput{Site: "uk", Tags: map[string]string{TagRole: "db"}})
	require.NoError(t, err)
	require.Equal(t, []string{"uk-db-1"}, db.PoweredOff)
	require.Empty(t, db.AlreadyOff)

	// The dead site comes back: the same activities fence it.
	require.NoError(t, l.vc["us"].Revive(ctx))
	back, err := l.a.FenceSite(ctx, FenceSiteInput{Site: "us"})
	require.NoError(t, err)
	require.False(t, back.Unreachable)
	require.Equal(t, []string{"us-db-1", "us-web-1", "us-web-2"}, back.PoweredOff)
}

func TestFenceSiteBadInputAndCredentials(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	_, err := l.a.FenceSite(ctx, FenceSiteInput{Site: "atlantis"})
	requireType(t, err, apperrors.TypeBadInput)
	_, err = l.a.FenceSite(ctx, FenceSiteInput{Site: "uk", Exclude: []string{""}})
	requireType(t, err, apperrors.TypeBadInput)
	_, err = l.a.FenceSite(ctx, FenceSiteInput{Site: "uk", Tags: map[string]string{"x": "y"}})
	requireType(t, err, apperrors.TypeBadInput)

	// A reachable vCenter that rejects us is an error, not "unreachable":
	// its VMs may well still be running.
	cfg := l.cfg["uk"]
	cfg.Password = "wrong-password-123"
	bad := New(map[string]SiteConfig{"uk": cfg})
	_, err = bad.FenceSite(ctx, FenceSiteInput{Site: "uk"})
	requireType(t, err, apperrors.TypeAuth)
	require.NotContains(t, err.Error(), "wrong-password-123")
	require.Equal(t, types.VirtualMachinePowerStatePoweredOn, vmState(t, l.vc["uk"], "uk-web-1").Runtime.PowerState)
}

func TestFenceSiteReportsVMsItCouldNotPowerOff(t *testing.T) {
	integration(t)
	s := startSim(t)
	hook := installTaskHook(s)
	ctx := testCtx(t)
	// VM0's host stops answering mid-task; VM1's power-off call is refused.
	hook.fail("PowerOff", &types.HostNotConnected{}, 0, 1)
	s.svc.AddFaultRule(&simulator.FaultInjectionRule{
		MethodName: "PowerOffVM_Task", ObjectType: "VirtualMachine", ObjectName: "DC0_C0_RP0_VM1",
		Probability: 1, MaxCount: 1, Enabled: true, FaultType: simulator.FaultTypeNetworkFailure,
	})
	res, err := s.a.FenceSite(ctx, FenceSiteInput{Site: "sim"})
	require.NoError(t, err)
	require.False(t, res.Unreachable)
	require.Empty(t, res.PoweredOff)
	require.Equal(t, []string{"DC0_C0_RP0_VM1", "DC0_C0_RP0_VM0"}, res.UnreachableVMs)
	require.Contains(t, res.Errors["DC0_C0_RP0_VM0"], "HostNotConnected")
	require.Contains(t, res.Errors["DC0_C0_RP0_VM1"], "SystemError")

	// The retry finishes the job.
	res, err = s.a.FenceSite(ctx, FenceSiteInput{Site: "sim"})
	require.NoError(t, err)
	require.Equal(t, []string{"DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1"}, res.PoweredOff)
	require.Empty(t, res.UnreachableVMs)
}
