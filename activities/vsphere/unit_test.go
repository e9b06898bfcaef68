package vsphere

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/apperrors"
)

func taskErr(f types.BaseMethodFault) error {
	return task.Error{LocalizedMethodFault: &types.LocalizedMethodFault{Fault: f, LocalizedMessage: fmt.Sprintf("%T", f)}}
}

func TestClassifyMapsFaultsToTypes(t *testing.T) {
	a := New(map[string]SiteConfig{"uk": {URL: "https://vc.uk.example/sdk", Username: "ops", Password: "hunter2"}})
	s, err := a.site("uk")
	require.NoError(t, err)
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		err  error
		typ  string
		want string
	}{
		{refused, apperrors.TypeUnavailable, "did not answer"},
		{fmt.Errorf("post: %w", context.DeadlineExceeded), apperrors.TypeUnavailable, "did not answer"},
		{taskErr(&types.InvalidLogin{}), apperrors.TypeAuth, `user "ops"`},
		{taskErr(&types.NotAuthenticated{}), apperrors.TypeAuth, "credentials"},
		{taskErr(&types.NoPermission{PrivilegeId: "VirtualMachine.Interact.PowerOn"}), apperrors.TypeRejected, "lacks a privilege"},
		{taskErr(&types.ManagedObjectNotFound{}), apperrors.TypeNotFound, "ManagedObjectNotFound"},
		{taskErr(&types.InvalidArgument{InvalidProperty: "spec"}), apperrors.TypeRejected, "InvalidArgument"},
		{taskErr(&types.InvalidPowerState{}), apperrors.TypeConflict, "retry later"},
		{taskErr(&types.TaskInProgress{}), apperrors.TypeConflict, "busy"},
		{taskErr(&types.HostCommunication{}), apperrors.TypeUnavailable, "transiently"},
	} {
		got := s.classify(context.Background(), "power on VM \"x\"", tc.err)
		requireType(t, got, tc.typ)
		require.ErrorContains(t, got, "site uk (https://vc.uk.example/sdk): power on VM \"x\"")
		require.ErrorContains(t, got, tc.want)
		require.NotContains(t, got.Error(), "hunter2")
	}
	// Unknown faults stay plain (retryable) errors that name the fault.
	other := s.classify(context.Background(), "clone", taskErr(&types.VmConfigFault{}))
	require.Equal(t, "", apperrors.TypeOf(other))
	require.ErrorContains(t, other, "vSphere fault VmConfig")
	// Typed errors pass through untouched.
	typed := apperrors.NotFound("gone")
	require.Same(t, typed, s.classify(context.Background(), "x", typed))
	// Under a done context, anything is the vCenter not answering in time.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	requireType(t, s.classify(ctx, "x", errors.New("read: connection reset")), apperrors.TypeUnavailable)
}

func TestSameVCenter(t *testing.T) {
	site := func(raw string) *site {
		a := New(map[string]SiteConfig{"s": {URL: raw}})
		s, err := a.site("s")
		require.NoError(t, err)
		return s
	}
	require.True(t, sameVCenter(site("https://VC.example/sdk"), site("https://vc.example:443/sdk/")))
	require.False(t, sameVCenter(site("https://vc.example/sdk"), site("https://vc.example:8443/sdk")))
	require.False(t, sameVCenter(site("https://127.54.0.1:8989/sdk"), site("https://127.55.0.1:8989/sdk")))
}

func TestReplicaTags(t *testing.T) {
	at := time.Date(2026, 2, 3, 4, 5, 6, 0, time.FixedZone("x", 3600))
	tags, err := replicaTags(ReplicateVMInput{Site: "uk", VM: "uk-web-1", ReplicaName: "r", ReplicatedAt: at,
		Tags: map[string]string{TagRole: "web", TagReplicaOf: "uk-web-1"}})
	require.NoError(t, err)
	require.Equal(t, map[string]string{TagRole: "web", TagReplicaOf: "uk-web-1", TagReplicaSite: "uk",
		TagReplicatedAt: "2026-02-03T03:05:06Z"}, tags)
	_, err = replicaTags(ReplicateVMInput{Site: "uk", VM: "uk-web-1", ReplicaName: "r", ReplicatedAt: at,
		Tags: map[string]string{TagReplicaSite: "us"}})
	requireType(t, err, apperrors.TypeBadInput)
}

func TestTagsAndNames(t *testing.T) {
	opts := []types.BaseOptionValue{
		&types.OptionValue{Key: TagRole, Value: "web"},
		&types.OptionValue{Key: TagSite, Value: ""}, // removed in vSphere's eyes
		&types.OptionValue{Key: "guestinfo.x", Value: "y"},
		&types.OptionValue{Key: "mdc.n", Value: int32(3)},
	}
	require.Equal(t, map[string]string{TagRole: "web", "mdc.n": "3"}, tagsOf(opts))
	require.Nil(t, tagsOf(nil))
	ec := extraConfig(map[string]string{"mdc.b": "2", "mdc.a": "1"})
	require.Equal(t, "mdc.a", ec[0].GetOptionValue().Key, "sorted, so the same tags make the same spec")
	require.True(t, hasTags(map[string]string{"a": "1", "b": "2"}, map[string]string{"a": "1"}))
	require.False(t, hasTags(map[string]string{"a": "1"}, map[string]string{"a": "2"}))
	require.True(t, hasTags(nil, nil))
	require.NoError(t, checkName("Name", "uk-web-1"))
	for _, bad := range []string{"", "  ", "a/b", "50%"} {
		requireType(t, checkName("Name", bad), apperrors.TypeBadInput)
	}
	requireType(t, checkTags("Tags", map[string]string{"mdc.": "x"}), apperrors.TypeBadInput)
}
