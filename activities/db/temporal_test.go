package db

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/microdc/mdc/apperrors"
)

// TestThroughTemporal runs operations as registered activities, proving
// their inputs, results and typed errors survive Temporal's serialisation
// and that a long wait heartbeats.
func TestThroughTemporal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two real mariadbd")
	}
	pr := startPair(t)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(pr.acts)

	val, err := env.ExecuteActivity(pr.acts.ReplicationStatus, ReplicationStatusInput{Site: "us"})
	require.NoError(t, err)
	var st ReplicationStatusResult
	require.NoError(t, val.Get(&st))
	require.Equal(t, RoleReplica, st.Role)
	require.Equal(t, "uk", st.MasterSite)
	require.NotNil(t, st.SecondsBehindMaster)

	// A wait for a write that happens later heartbeats until it arrives.
	uk := status(t, pr.acts, "uk")
	next := bumpGTID(t, uk.GTIDBinlogPos, 1)
	app := appDB(t, primaryAddr)
	wrote := make(chan error, 1)
	go func() {
		time.Sleep(1500 * time.Millisecond) // the wait must outlast a slice
		_, err := app.Exec("INSERT INTO visits (node, site) VALUES ('web-later', 'test')")
		wrote <- err
	}()
	val, err = env.ExecuteActivity(pr.acts.WaitForGTID, WaitForGTIDInput{Site: "us", GTID: next, Timeout: 10 * time.Second})
	require.NoError(t, err)
	require.NoError(t, <-wrote)
	var w WaitForGTIDResult
	require.NoError(t, val.Get(&w))
	require.False(t, w.AlreadyApplied)
	require.Equal(t, next, w.GTIDSlavePos)
	require.Greater(t, w.Waited, time.Second)

	_, err = env.ExecuteActivity(pr.acts.Promote, PromoteInput{Site: "us", PrimaryGTID: "abc"})
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae), "got %T %v", err, err)
	require.Equal(t, apperrors.TypeBadInput, ae.Type())
	require.True(t, ae.NonRetryable())

	_, err = env.ExecuteActivity(pr.acts.Fence, FenceInput{Site: "mars"})
	require.True(t, apperrors.Is(err, apperrors.TypeBadInput), "got %v", err)
}
