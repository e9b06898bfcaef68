package vsphere

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/apperrors"
)

func TestSnapshotsAreIdempotentByName(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	uk := l.vc["uk"]
	in := SnapshotInput{Site: "uk", VM: "uk-db-1", Snapshot: "pre-upgrade", Description: "before the schema change"}

	res, err := l.a.CreateSnapshot(ctx, in)
	require.NoError(t, err)
	require.True(t, res.Changed)
	res, err = l.a.CreateSnapshot(ctx, in)
	require.NoError(t, err)
	require.False(t, res.Changed)
	require.Equal(t, []string{"pre-upgrade"}, snapshotNames(vmState(t, uk, "uk-db-1")))

	in2 := in
	in2.Snapshot = "post-upgrade"
	_, err = l.a.CreateSnapshot(ctx, in2)
	require.NoError(t, err)
	require.Equal(t, []string{"pre-upgrade", "post-upgrade"}, snapshotNames(vmState(t, uk, "uk-db-1")))

	// Removing a parent keeps its child.
	res, err = l.a.RemoveSnapshot(ctx, in)
	require.NoError(t, err)
	require.True(t, res.Changed)
	res, err = l.a.RemoveSnapshot(ctx, in)
	require.NoError(t, err)
	require.False(t, res.Changed)
	require.Equal(t, []string{"post-upgrade"}, snapshotNames(vmState(t, uk, "uk-db-1")))
}

func TestSnapshotBadInput(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	for _, tc := range []struct {
		in  SnapshotInput
		typ string
	}{
		{SnapshotInput{Site: "nowhere", VM: "uk-db-1", Snapshot: "s"}, apperrors.TypeBadInput},
		{SnapshotInput{Site: "uk", VM: "", Snapshot: "s"}, apperrors.TypeBadInput},
		{SnapshotInput{Site: "uk", VM: "uk-db-1", Snapshot: ""}, apperrors.TypeBadInput},
		{SnapshotInput{Site: "uk", VM: "uk-db-9", Snapshot: "s"}, apperrors.TypeNotFound},
	} {
		_, err := l.a.CreateSnapshot(ctx, tc.in)
		requireType(t, err, tc.typ)
		_, err = l.a.RemoveSnapshot(ctx, tc.in)
		requireType(t, err, tc.typ)
	}
	require.Empty(t, snapshotNames(vmState(t, l.vc["uk"], "uk-db-1")))
	require.Equal(t, []string{"golden"}, snapshotNames(vmState(t, l.vc["uk"], "web-template")))
}
