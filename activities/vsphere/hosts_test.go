package vsphere

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/apperrors"
)

func TestRelocateVM(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	hosts := l.vc["uk"].Hosts()

	res, err := l.a.RelocateVM(ctx, RelocateVMInput{Site: "uk", Name: "uk-web-1", Host: hosts[1]})
	require.NoError(t, err)
	require.Equal(t, RelocateVMResult{From: hosts[0], Host: hosts[1], Changed: true}, res)
	again, err := l.a.RelocateVM(ctx, RelocateVMInput{Site: "uk", Name: "uk-web-1", Host: hosts[1]})
	require.NoError(t, err)
	require.Equal(t, RelocateVMResult{From: hosts[1], Host: hosts[1], Changed: false}, again)
	found, err := l.a.FindVMs(ctx, FindVMsInput{Site: "uk", Names: []string{"uk-web-1"}})
	require.NoError(t, err)
	require.Equal(t, hosts[1], found.VMs[0].Host)
	require.Equal(t, PoweredOn, found.VMs[0].PowerState, "vMotion keeps it running")

	_, err = l.a.RelocateVM(ctx, RelocateVMInput{Site: "uk", Name: "uk-web-1", Host: "esx-9"})
	requireType(t, err, apperrors.TypeNotFound)
	_, err = l.a.RelocateVM(ctx, RelocateVMInput{Site: "uk", Name: "uk-web-9", Host: hosts[0]})
	requireType(t, err, apperrors.TypeNotFound)
	_, err = l.a.RelocateVM(ctx, RelocateVMInput{Site: "uk", Name: "uk-web-1"})
	requireType(t, err, apperrors.TypeBadInput)
	_, err = l.a.RelocateVM(ctx, RelocateVMInput{Site: "de", Name: "uk-web-1", Host: hosts[0]})
	requireType(t, err, apperrors.TypeBadInput)
	found, err = l.a.FindVMs(ctx, FindVMsInput{Site: "uk", Names: []string{"uk-web-1"}})
	require.NoError(t, err)
	require.Equal(t, hosts[1], found.VMs[0].Host)
}

// The DrainHost sequence: refused while VMs run, relocate them, enter,
// exit; each step idempotent.
func TestMaintenanceMode(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	hosts := l.vc["uk"].Hosts()
	busy := hosts[1] // uk-web-2 and uk-db-1

	_, err := l.a.EnterMaintenance(ctx, EnterMaintenanceInput{Site: "uk", Host: busy})
	requireType(t, err, apperrors.TypeConflict)
	require.True(t, retryable(err))
	require.ErrorContains(t, err, "uk-db-1, uk-web-2")

	for _, vm := range []string{"uk-web-2", "uk-db-1"} {
		_, err := l.a.RelocateVM(ctx, RelocateVMInput{Site: "uk", Name: vm, Host: hosts[0]})
		require.NoError(t, err)
	}
	res, err := l.a.EnterMaintenance(ctx, EnterMaintenanceInput{Site: "uk", Host: busy})
	require.NoError(t, err)
	require.True(t, res.Changed)
	res, err = l.a.EnterMaintenance(ctx, EnterMaintenanceInput{Site: "uk", Host: busy})
	require.NoError(t, err)
	require.False(t, res.Changed)

	// Nothing moves onto a host in maintenance.
	_, err = l.a.RelocateVM(ctx, RelocateVMInput{Site: "uk", Name: "uk-web-1", Host: busy})
	requireType(t, err, apperrors.TypeConflict)

	out, err := l.a.ExitMaintenance(ctx, ExitMaintenanceInput{Site: "uk", Host: busy})
	require.NoError(t, err)
	require.True(t, out.Changed)
	out, err = l.a.ExitMaintenance(ctx, ExitMaintenanceInput{Site: "uk", Host: busy})
	require.NoError(t, err)
	require.False(t, out.Changed)

	_, err = l.a.EnterMaintenance(ctx, EnterMaintenanceInput{Site: "uk", Host: "esx-404"})
	requireType(t, err, apperrors.TypeNotFound)
	_, err = l.a.ExitMaintenance(ctx, ExitMaintenanceInput{Site: "uk", Host: ""})
	requireType(t, err, apperrors.TypeBadInput)
	_, err = l.a.ExitMaintenance(ctx, ExitMaintenanceInput{Site: "zz", Host: busy})
	requireType(t, err, apperrors.TypeBadInput)
}
