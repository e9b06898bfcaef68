package vsphere

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/apperrors"
)

func TestPowerOffAndOnAreIdempotent(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	in := PowerInput{Site: "uk", Name: "uk-web-1"}

	off, err := l.a.PowerOff(ctx, in)
	require.NoError(t, err)
	require.Equal(t, PowerResult{PowerState: PoweredOff, Changed: true}, off)
	require.Equal(t, types.VirtualMachinePowerStatePoweredOff, vmState(t, l.vc["uk"], "uk-web-1").Runtime.PowerState)
	off, err = l.a.PowerOff(ctx, in)
	require.NoError(t, err)
	require.Equal(t, PowerResult{PowerState: PoweredOff, Changed: false}, off)

	on, err := l.a.PowerOn(ctx, in)
	require.NoError(t, err)
	require.Equal(t, PowerResult{PowerState: PoweredOn, Changed: true}, on)
	on, err = l.a.PowerOn(ctx, in)
	require.NoError(t, err)
	require.Equal(t, PowerResult{PowerState: PoweredOn, Changed: false}, on)
	require.Equal(t, types.VirtualMachinePowerStatePoweredOn, vmState(t, l.vc["uk"], "uk-web-1").Runtime.PowerState)
}

func TestPowerBadInput(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	_, err := l.a.PowerOn(ctx, PowerInput{Site: "fr", Name: "uk-web-1"})
	requireType(t, err, apperrors.TypeBadInput)
	_, err = l.a.PowerOff(ctx, PowerInput{Site: "uk"})
	requireType(t, err, apperrors.TypeBadInput)
	_, err = l.a.PowerOff(ctx, PowerInput{Site: "uk", Name: "uk-web-77"})
	requireType(t, err, apperrors.TypeNotFound)
	require.ErrorContains(t, err, `no VM "uk-web-77" in folder /DC0/vm/mdc`)
	_, err = l.a.PowerOn(ctx, PowerInput{Site: "uk", Name: "web-template"})
	requireType(t, err, apperrors.TypeBadInput)
	require.ErrorContains(t, err, "template")
	require.Equal(t, types.VirtualMachinePowerStatePoweredOn, vmState(t, l.vc["uk"], "uk-web-1").Runtime.PowerState)
}

func TestPowerOnFaults(t *testing.T) {
	integration(t)
	s := startSim(t)
	hook := installTaskHook(s)
	ctx := testCtx(t)
	in := PowerInput{Site: "sim", Name: "DC0_C0_RP0_VM1"}
	_, err := s.a.PowerOff(ctx, in)
	require.NoError(t, err)

	// The power-on task fails: not enough memory on the host.
	hook.fail("PowerOn", &types.InsufficientResourcesFault{}, 0, 1)
	_, err = s.a.PowerOn(ctx, in)
	requireType(t, err, apperrors.TypeConflict)
	require.True(t, retryable(err))

	// The call itself fails with an unexpected host error: retryable.
	s.svc.AddFaultRule(&simulator.FaultInjectionRule{
		MethodName: "PowerOnVM_Task", ObjectType: "VirtualMachine", ObjectName: "DC0_C0_RP0_VM1",
		Probability: 1, MaxCount: 1, Enabled: true, FaultType: simulator.FaultTypeNetworkFailure,
	})
	_, err = s.a.PowerOn(ctx, in)
	requireType(t, err, apperrors.TypeUnavailable)
	require.True(t, retryable(err))

	// A concurrent power-on won the race: InvalidPowerState means done.
	hook.set("PowerOn", hookAction{fault: &types.InvalidPowerState{ExistingState: types.VirtualMachinePowerStatePoweredOn}, realFirst: true, count: 1})
	res, err := s.a.PowerOn(ctx, in)
	require.NoError(t, err)
	require.Equal(t, PowerResult{PowerState: PoweredOn, Changed: false}, res)
}

func TestDestroyVM(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	n := countVMs(t, l.vc["uk"])

	// Powered on: it is powered off first.
	res, err := l.a.DestroyVM(ctx, DestroyVMInput{Site: "uk", Name: "uk-web-2"})
	require.NoError(t, err)
	require.True(t, res.Changed)
	require.Nil(t, vmState(t, l.vc["uk"], "uk-web-2"))
	require.Equal(t, n-1, countVMs(t, l.vc["uk"]))

	res, err = l.a.DestroyVM(ctx, DestroyVMInput{Site: "uk", Name: "uk-web-2"})
	require.NoError(t, err)
	require.False(t, res.Changed)

	_, err = l.a.DestroyVM(ctx, DestroyVMInput{Site: "uk", Name: "web-template"})
	requireType(t, err, apperrors.TypeBadInput)
	_, err = l.a.DestroyVM(ctx, DestroyVMInput{Site: "uk", Name: ""})
	requireType(t, err, apperrors.TypeBadInput)
	_, err = l.a.DestroyVM(ctx, DestroyVMInput{Site: "xx", Name: "uk-web-1"})
	requireType(t, err, apperrors.TypeBadInput)
	require.Equal(t, n-1, countVMs(t, l.vc["uk"]))
}

func TestDestroyVMThatVanishesMidwayIsDone(t *testing.T) {
	integration(t)
	s := startSim(t)
	hook := installTaskHook(s)
	ctx := testCtx(t)
	_, err := s.a.PowerOff(ctx, PowerInput{Site: "sim", Name: "DC0_C0_RP0_VM0"})
	require.NoError(t, err)
	// Another run destroyed it between this run's look-up and its destroy.
	hook.set("Destroy", hookAction{fault: &types.ManagedObjectNotFound{}, realFirst: true, count: 1})
	res, err := s.a.DestroyVM(ctx, DestroyVMInput{Site: "sim", Name: "DC0_C0_RP0_VM0"})
	require.NoError(t, err)
	require.False(t, res.Changed)
	found, err := s.a.FindVMs(ctx, FindVMsInput{Site: "sim", Names: []string{"DC0_C0_RP0_VM0"}})
	require.NoError(t, err)
	require.Equal(t, []string{"DC0_C0_RP0_VM0"}, found.Missing)
}

func TestWaitForIP(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	uk := l.vc["uk"]

	// No IP yet: the lab's guest agent sets it a little later.
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = uk.SetGuestIP(ctx, "uk-web-1", "127.54.0.11")
	}()
	begin := time.Now()
	res, err := l.a.WaitForIP(ctx, WaitForIPInput{Site: "uk", Name: "uk-web-1", Deadline: time.Now().Add(10 * time.Second)})
	require.NoError(t, err)
	require.Equal(t, "127.54.0.11", res.IP)
	require.Less(t, time.Since(begin), 5*time.Second)
	again, err := l.a.WaitForIP(ctx, WaitForIPInput{Site: "uk", Name: "uk-web-1", Deadline: time.Now().Add(time.Second)})
	require.NoError(t, err)
	require.Equal(t, res, again)

	// Never gets one: Timeout at the deadline, not before, not much after.
	begin = time.Now()
	_, err = l.a.WaitForIP(ctx, WaitForIPInput{Site: "uk", Name: "uk-web-2", Deadline: time.Now().Add(800 * time.Millisecond)})
	requireType(t, err, apperrors.TypeTimeout)
	require.True(t, retryable(err))
	require.GreaterOrEqual(t, time.Since(begin), 800*time.Millisecond)
	require.Less(t, time.Since(begin), 3*time.Second)

	// Powered off: the stale IP vSphere still reports is not an answer.
	powerOffDirect(t, uk, "uk-web-1")
	_, err = l.a.WaitForIP(ctx, WaitForIPInput{Site: "uk", Name: "uk-web-1", Deadline: time.Now().Add(time.Second)})
	requireType(t, err, apperrors.TypeConflict)
	require.ErrorContains(t, err, "poweredOff")

	_, err = l.a.WaitForIP(ctx, WaitForIPInput{Site: "uk", Name: "uk-web-1"})
	requireType(t, err, apperrors.TypeBadInput)
	_, err = l.a.WaitForIP(ctx, WaitForIPInput{Site: "uk", Name: "nope", Deadline: time.Now().Add(time.Second)})
	requireType(t, err, apperrors.TypeNotFound)
	_, err = l.a.WaitForIP(ctx, WaitForIPInput{Site: "uk", Name: "web-template", Deadline: time.Now().Add(time.Second)})
	requireType(t, err, apperrors.TypeBadInput)
}
