package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

// ukHosts is a site of three hosts: h1 runs a web node (in the balancer)
// and the database, h0 a web node and the template, h2 nothing.
func ukHosts() *fakeDC {
	f := newFakeDC()
	f.addVM("uk", vsphere.VM{Name: "web-template", Template: true, PowerState: vsphere.PoweredOff, Host: "h1", Tags: webTags("uk")})
	f.addVM("uk", vsphere.VM{Name: "uk-web-1", PowerState: vsphere.PoweredOn, Host: "h0", IP: "127.1.0.10", Tags: webTags("uk")})
	f.addVM("uk", vsphere.VM{Name: "uk-web-2", PowerState: vsphere.PoweredOn, Host: "h1", IP: "127.1.0.11", Tags: webTags("uk")})
	f.addVM("uk", vsphere.VM{Name: "uk-db-1", PowerState: vsphere.PoweredOn, Host: "h1", Tags: map[string]string{vsphere.TagRole: "db"}})
	f.addVM("uk", vsphere.VM{Name: "uk-old", PowerState: vsphere.PoweredOff, Host: "h1"})
	f.addServer("uk", "uk-web-1", "127.1.0.10:8080", lb.StateUp)
	f.addServer("uk", "uk-web-2", "127.1.0.11:8080", lb.StateUp)
	return f
}

func drainInput() DrainHostInput {
	return DrainHostInput{Site: "uk", Host: "h1", Deadline: 30 * time.Second, Hosts: []string{"h0", "h1", "h2"}}
}

func runDrain(t *testing.T, f *fakeDC, in DrainHostInput) (DrainHostResult, error) {
	env := newSiteEnv(f)
	env.ExecuteWorkflow(DrainHostName, in)
	require.True(t, env.IsWorkflowCompleted())
	if err := env.GetWorkflowError(); err != nil {
		return DrainHostResult{}, err
	}
	var res DrainHostResult
	require.NoError(t, env.GetWorkflowResult(&res))
	return res, nil
}

func TestDrainHostDrainsWebNodesMovesRunningVMsToTheLeastLoadedHostsAndEntersMaintenance(t *testing.T) {
	f := ukHosts()
	res, err := runDrain(t, f, drainInput())
	require.NoError(t, err)
	require.Equal(t, []string{"uk-web-2"}, res.Drained)
	// h0 runs one VM and h2 none: the first move goes to h2, the second to
	// h0 (a tie, broken by name).
	require.Equal(t, []VMMove{{VM: "uk-db-1", From: "h1", To: "h2"}, {VM: "uk-web-2", From: "h1", To: "h0"}}, res.Moved)
	require.True(t, res.EnteredMaintenance)
	require.Equal(t, []string{"DrainServer uk-web-2", "RelocateVM uk-db-1 h2", "RelocateVM uk-web-2 h0", "EnterMaintenance h1"},
		f.Calls(sideEffects...), "drain first, then move, then maintenance; the powered-off VM and the template stay")
	require.Equal(t, lb.StateDrain, f.servers["uk/uk-web-2"].State, "kept drained until UndrainHost")
	require.True(t, f.maintenance["h1"])

	before := len(f.Calls(sideEffects...))
	again, err := runDrain(t, f, drainInput())
	require.NoError(t, err)
	require.Empty(t, again.Moved)
	require.False(t, again.EnteredMaintenance)
	require.Equal(t, []string{"EnterMaintenance h1"}, f.Calls(sideEffects...)[before:], "a second run only confirms maintenance")
}

func TestDrainHostStopsBeforeMaintenanceWhenAVMCannotBeMoved(t *testing.T) {
	f := ukHosts()
	f.failRelocate["uk-web-2"] = apperrors.Rejected("uk-web-2 has a device backed by a local CD-ROM")
	_, err := runDrain(t, f, drainInput())
	require.Error(t, err)
	require.Contains(t, err.Error(), "move VM uk-web-2 from host h1 to h0 at site uk")
	require.Contains(t, err.Error(), "local CD-ROM")
	require.Contains(t, err.Error(), "host h1 was NOT put into maintenance")
	require.Empty(t, f.Calls("EnterMaintenance"))
	require.False(t, f.maintenance["h1"])
}

func TestDrainHostMovesANodeWhoseSessionsOutliveTheDeadline(t *testing.T) {
	f := ukHosts()
	f.failDrain["uk-web-2"] = apperrors.Timeout("uk-web-2 still has 2 sessions after 30s")
	res, err := runDrain(t, f, drainInput())
	require.NoError(t, err)
	require.Equal(t, []string{"DrainServer uk-web-2"}, f.Calls("DrainServer"), "a passed deadline is not retried")
	require.Len(t, res.Moved, 2)
	require.Contains(t, res.Progress.Steps[1].Detail, "sessions still open after 30s")
}

func TestDrainHostRefusesWhenNoOtherHostExists(t *testing.T) {
	f := ukHosts()
	in := drainInput()
	in.Hosts = []string{"h1"}
	_, err := runDrain(t, f, in)
	require.Error(t, err)
	require.Contains(t, err.Error(), "site uk has no host other than h1")
	require.Empty(t, f.Calls(sideEffects...))
}

func TestUndrainHostExitsMaintenanceAndReenablesTheDrainedServers(t *testing.T) {
	f := ukHosts()
	drained, err := runDrain(t, f, drainInput())
	require.NoError(t, err)
	in := UndrainHostInput{Site: "uk", Host: "h1", Servers: append(drained.Drained, "uk-web-9")}
	env := newSiteEnv(f)
	env.ExecuteWorkflow(UndrainHostName, in)
	require.NoError(t, env.GetWorkflowError())
	var res UndrainHostResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.True(t, res.ExitedMaintenance)
	require.Equal(t, []string{"uk-web-2"}, res.Enabled)
	require.Equal(t, []string{"uk-web-9"}, res.Missing, "a server scaled in meanwhile is reported, not an error")
	require.Equal(t, lb.StateUp, f.servers["uk/uk-web-2"].State)
	require.False(t, f.maintenance["h1"])
	require.Equal(t, "h0", f.vms["uk/uk-web-2"].Host, "VMs are not moved back")

	before := len(f.Calls(sideEffects...))
	env = newSiteEnv(f)
	env.ExecuteWorkflow(UndrainHostName, in)
	require.NoError(t, env.GetWorkflowError())
	var again UndrainHostResult
	require.NoError(t, env.GetWorkflowResult(&again))
	require.False(t, again.ExitedMaintenance)
	require.Empty(t, again.Enabled)
	require.Equal(t, []string{"ExitMaintenance h1"}, f.Calls(sideEffects...)[before:], "a second run enables nothing")
}

func TestUndrainHostWithoutAListEnablesTheServersOfTheHostsVMs(t *testing.T) {
	f := ukHosts()
	s := f.servers["uk/uk-web-2"]
	s.State = lb.StateMaint
	f.servers["uk/uk-web-2"] = s
	env := newSiteEnv(f)
	env.ExecuteWorkflow(UndrainHostName, UndrainHostInput{Site: "uk", Host: "h1"})
	require.NoError(t, env.GetWorkflowError())
	var res UndrainHostResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, []string{"uk-web-2"}, res.Enabled)
	require.Empty(t, res.Missing)
}
