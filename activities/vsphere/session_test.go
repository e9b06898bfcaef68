package vsphere

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"

	"github.com/microdc/mdc/apperrors"
	"github.com/microdc/mdc/lab/vcenter"
)

// cached is the site's current session client (nil when logged out).
func cached(a *Activities, site string) *vim25.Client {
	s := a.sites[site]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client
}

func TestStoppedVCenterIsUnavailableAndReviveNeedsNoRestart(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	_, err := l.a.FindVMs(ctx, FindVMsInput{Site: "uk"})
	require.NoError(t, err)

	l.vc["uk"].Stop()
	calls := map[string]func() error{
		"FindVMs": func() error { _, err := l.a.FindVMs(ctx, FindVMsInput{Site: "uk"}); return err },
		"PowerOff": func() error {
			_, err := l.a.PowerOff(ctx, PowerInput{Site: "uk", Name: "uk-web-1"})
			return err
		},
		"CloneVM": func() error {
			_, err := l.a.CloneVM(ctx, CloneVMInput{Site: "uk", Source: "web-template", Name: "x", Tags: webTags})
			return err
		},
		"CreateSnapshot": func() error {
			_, err := l.a.CreateSnapshot(ctx, SnapshotInput{Site: "uk", VM: "uk-db-1", Snapshot: "s"})
			return err
		},
		"EnterMaintenance": func() error {
			_, err := l.a.EnterMaintenance(ctx, EnterMaintenanceInput{Site: "uk", Host: l.vc["uk"].Hosts()[0]})
			return err
		},
		"ListReplicas": func() error { _, err := l.a.ListReplicas(ctx, ListReplicasInput{Site: "uk"}); return err },
	}
	for name, call := range calls {
		begin := time.Now()
		err := call()
		requireType(t, err, apperrors.TypeUnavailable)
		require.True(t, retryable(err), name)
		require.ErrorContains(t, err, "site uk (https://127.54.0.1:8989/sdk)", name)
		require.NotContains(t, err.Error(), testPass, name)
		require.Less(t, time.Since(begin), time.Second, name)
	}

	require.NoError(t, l.vc["uk"].Revive(ctx))
	res, err := l.a.PowerOff(ctx, PowerInput{Site: "uk", Name: "uk-web-1"})
	require.NoError(t, err)
	require.True(t, res.Changed)
}

// A vCenter rebuilt from its state file has new object IDs and no
// sessions: the next call logs in again by itself.
func TestRestartedVCenterIsLoggedIntoAgain(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	_, err := l.a.PowerOff(ctx, PowerInput{Site: "uk", Name: "uk-web-2"})
	require.NoError(t, err)
	before := cached(l.a, "uk")
	require.NotNil(t, before)

	l.vc["uk"].Close()
	v, err := vcenter.Start(ctx, labOptions("uk", ukAddr, l.dir))
	require.NoError(t, err)
	t.Cleanup(v.Close)

	found, err := l.a.FindVMs(ctx, FindVMsInput{Site: "uk", Names: []string{"uk-web-2"}})
	require.NoError(t, err)
	require.Equal(t, PoweredOff, found.VMs[0].PowerState, "state survived the restart")
	require.NotSame(t, before, cached(l.a, "uk"), "a new session was made")
	on, err := l.a.PowerOn(ctx, PowerInput{Site: "uk", Name: "uk-web-2"})
	require.NoError(t, err)
	require.True(t, on.Changed)
}

func TestLostSessionIsRenewedOnceThenAuthFails(t *testing.T) {
	integration(t)
	s := startSim(t)
	ctx := testCtx(t)
	_, err := s.a.FindVMs(ctx, FindVMsInput{Site: "sim"})
	require.NoError(t, err)
	first := cached(s.a, "sim")

	s.svc.AddFaultRule(&simulator.FaultInjectionRule{
		MethodName: "PowerOffVM_Task", ObjectType: "*", ObjectName: "*", Probability: 1, MaxCount: 1, Enabled: true,
		FaultType: simulator.FaultTypeNotAuthenticated,
	})
	res, err := s.a.PowerOff(ctx, PowerInput{Site: "sim", Name: "DC0_C0_RP0_VM0"})
	require.NoError(t, err)
	require.True(t, res.Changed)
	require.NotSame(t, first, cached(s.a, "sim"))

	s.svc.ClearFaultRules()
	s.svc.AddFaultRule(&simulator.FaultInjectionRule{
		MethodName: "PowerOffVM_Task", ObjectType: "*", ObjectName: "*", Probability: 1, Enabled: true,
		FaultType: simulator.FaultTypeNotAuthenticated,
	})
	_, err = s.a.PowerOff(ctx, PowerInput{Site: "sim", Name: "DC0_C0_RP0_VM1"})
	requireType(t, err, apperrors.TypeAuth)
	require.False(t, retryable(err))
}

func TestBadCredentialsAndConfiguration(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	wrong := l.cfg["uk"]
	wrong.Password = "not-the-password-456"
	a := New(map[string]SiteConfig{"uk": wrong})
	_, err := a.PowerOff(ctx, PowerInput{Site: "uk", Name: "uk-web-1"})
	requireType(t, err, apperrors.TypeAuth)
	require.False(t, retryable(err))
	require.ErrorContains(t, err, "site uk (https://127.54.0.1:8989/sdk)")
	require.ErrorContains(t, err, `user "mdc-test"`)
	require.NotContains(t, err.Error(), "not-the-password-456")

	// vcsim's certificate is self-signed: verifying it fails for good.
	strict := l.cfg["uk"]
	strict.Insecure = false
	_, err = New(map[string]SiteConfig{"uk": strict}).FindVMs(ctx, FindVMsInput{Site: "uk"})
	requireType(t, err, apperrors.TypeRejected)
	require.ErrorContains(t, err, "certificate")

	bad := l.cfg["uk"]
	bad.URL = "https://user:pw@vc.example/sdk"
	_, err = New(map[string]SiteConfig{"uk": bad}).FindVMs(ctx, FindVMsInput{Site: "uk"})
	requireType(t, err, apperrors.TypeBadInput)
	require.NotContains(t, err.Error(), "pw@")

	missing := l.cfg["uk"]
	missing.Datacenter = "DC9"
	_, err = New(map[string]SiteConfig{"uk": missing}).FindVMs(ctx, FindVMsInput{Site: "uk"})
	requireType(t, err, apperrors.TypeNotFound)
	require.ErrorContains(t, err, `datacenter "DC9"`)
	require.Equal(t, PoweredOn, string(vmState(t, l.vc["uk"], "uk-web-1").Runtime.PowerState))
}

// A vCenter that accepts connections but never answers gives Unavailable
// by the caller's deadline, not a hang.
func TestSilentVCenterIsUnavailableByTheDeadline(t *testing.T) {
	integration(t)
	ln, err := net.Listen("tcp", "127.54.0.2:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	a := New(map[string]SiteConfig{"uk": {URL: "https://" + ln.Addr().String() + "/sdk", Insecure: true, Username: "u", Password: "p"}})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err = a.FindVMs(ctx, FindVMsInput{Site: "uk"})
	requireType(t, err, apperrors.TypeUnavailable)
	require.Less(t, time.Since(begin), 1500*time.Millisecond)

	// FenceSite turns the same into a result.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	res, err := a.FenceSite(ctx2, FenceSiteInput{Site: "uk"})
	require.NoError(t, err)
	require.True(t, res.Unreachable)
}

// Concurrent activities of one site share its session (and log in once
// even when they all start together).
func TestConcurrentCallsShareTheSession(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			if i%2 == 0 {
				_, err := l.a.FindVMs(ctx, FindVMsInput{Site: "uk"})
				errs <- err
				return
			}
			_, err := l.a.CreateSnapshot(ctx, SnapshotInput{Site: "uk", VM: "uk-db-1", Snapshot: fmt.Sprintf("c%d", i)})
			errs <- err
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
	require.Len(t, snapshotNames(vmState(t, l.vc["uk"], "uk-db-1")), 4)
	require.NotNil(t, cached(l.a, "uk"))
}
