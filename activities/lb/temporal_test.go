package lb

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/microdc/mdc/apperrors"
)

// TestActivityEnvironment runs the activities through Temporal's test
// environment: registration, (de)serialisation of inputs and results,
// heartbeats and the typed errors as a workflow would see them.
func TestActivityEnvironment(t *testing.T) {
	_, a, _ := hapSetup(t, 2)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)

	val, err := env.ExecuteActivity(a.AddServer, AddServerInput{Site: hapSite, Name: "n2", Addr: hapNode(2)})
	require.NoError(t, err)
	var add AddServerResult
	require.NoError(t, val.Get(&add))
	require.True(t, add.Changed)

	val, err = env.ExecuteActivity(a.DrainServer, DrainServerInput{Site: hapSite, Name: "n2", Deadline: 5 * time.Second})
	require.NoError(t, err)
	var dr DrainServerResult
	require.NoError(t, val.Get(&dr))
	require.True(t, dr.Changed)
	require.Zero(t, dr.Sessions)

	val, err = env.ExecuteActivity(a.ListServers, ListServersInput{Site: hapSite})
	require.NoError(t, err)
	var list ListServersResult
	require.NoError(t, val.Get(&list))
	require.Len(t, list.Servers, 2)
	require.Equal(t, ServerStatus{Name: "n2", Addr: hapNode(2), State: StateDrain, Persisted: true}, list.Servers[1])

	_, err = env.ExecuteActivity(a.MaintServer, MaintServerInput{Site: "mars", Name: "n2"})
	requireType(t, err, apperrors.TypeBadInput)
	_, err = env.ExecuteActivity(a.EnableServer, EnableServerInput{Site: hapSite, Name: "n7"})
	requireType(t, err, apperrors.TypeNotFound)

	val, err = env.ExecuteActivity(a.RemoveServer, RemoveServerInput{Site: hapSite, Name: "n2"})
	require.NoError(t, err)
	var rm RemoveServerResult
	require.NoError(t, val.Get(&rm))
	require.True(t, rm.Changed)
}
