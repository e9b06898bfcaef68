package dns

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/microdc/mdc/apperrors"
)

// TestThroughTemporal runs the activities in Temporal's test environment:
// they register, and their inputs, results and errors serialise.
func TestThroughTemporal(t *testing.T) {
	l := newLab(t)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(l.a)

	in := SetRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A", TTL: 60, Records: []string{"127.1.0.2"}}
	v, err := env.ExecuteActivity(l.a.SetRecord, in)
	require.NoError(t, err)
	var res ChangeResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, []string{OutcomeChanged, OutcomeChanged}, outcomes(res))

	v, err = env.ExecuteActivity(l.a.SetRecord, in)
	require.NoError(t, err)
	require.NoError(t, v.Get(&res))
	require.False(t, res.Changed)

	v, err = env.ExecuteActivity(l.a.ReadRecord, ReadRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A"})
	require.NoError(t, err)
	var read ReadRecordResult
	require.NoError(t, v.Get(&read))
	require.True(t, read.Agree)

	v, err = env.ExecuteActivity(l.a.Verify, VerifyInput{Site: "uk", Name: www, Type: "A", Expect: []string{"127.1.0.2"}, Deadline: 5 * time.Second})
	require.NoError(t, err)
	var ver VerifyResult
	require.NoError(t, v.Get(&ver))
	require.Len(t, ver.Answers, 2)

	in.Zone = "mdc.test"
	_, err = env.ExecuteActivity(l.a.SetRecord, in)
	requireType(t, err, apperrors.TypeBadInput)

	_, err = env.ExecuteActivity(l.a.Verify, VerifyInput{Site: "uk", Name: www, Type: "A", Expect: []string{"127.9.9.9"}, Deadline: 500 * time.Millisecond})
	requireType(t, err, apperrors.TypeTimeout)
	require.ErrorContains(t, err, "answered NOERROR [127.1.0.2]")
}
