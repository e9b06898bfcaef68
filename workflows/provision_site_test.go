package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/microdc/mdc/activities/db"
	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

func webTags(site string) map[string]string {
	return map[string]string{vsphere.TagRole: "web", vsphere.TagService: "web", vsphere.TagSite: site}
}

func provisionInput(site string, n int) ProvisionSiteInput {
	svc := ProvisionService{
		Name: "web", Tags: webTags(site), Template: "web-template", Snapshot: "golden", Hosts: []string{"h0", "h1"},
		Port: 8080, HealthPath: "/healthz",
		DNS: &ProvisionDNS{Zone: "mdc.test.", Name: "www.mdc.test.", TTL: 60, Fallback: "127.1.0.2", Answers: []dns.GeoAnswer{
			{Region: "eu", Subnets: []string{"192.0.2.0/24"}, IP: "127.1.0.2"},
			{Region: "na", Subnets: []string{"198.51.100.0/24"}, IP: "127.2.0.2"},
		}},
	}
	for i := 1; i <= n; i++ {
		svc.VMs = append(svc.VMs, fmt.Sprintf("%s-web-%d", site, i))
	}
	return ProvisionSiteInput{Site: site, Services: []ProvisionService{svc}, Database: &ProvisionDatabase{Role: db.RoleReplica, PrimarySite: "uk"}}
}

// usSite is a site with the web template and one running web VM in the balancer.
func usSite() *fakeDC {
	f := newFakeDC()
	f.addVM("us", vsphere.VM{Name: "web-template", Template: true, PowerState: vsphere.PoweredOff, Host: "h0", Tags: webTags("us")})
	f.addVM("us", vsphere.VM{Name: "us-web-1", PowerState: vsphere.PoweredOn, Host: "h0", IP: "127.2.0.10", Tags: webTags("us")})
	f.addServer("us", "us-web-1", "127.2.0.10:8080", lb.StateUp)
	f.dbRole["us"] = db.RoleNone
	return f
}

func newSiteEnv(f *fakeDC) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	Register(env)
	f.register(env)
	return env
}

func runProvision(t *testing.T, f *fakeDC, in ProvisionSiteInput) (ProvisionSiteResult, error) {
	env := newSiteEnv(f)
	env.ExecuteWorkflow(ProvisionSiteName, in)
	require.True(t, env.IsWorkflowCompleted())
	if err := env.GetWorkflowError(); err != nil {
		return ProvisionSiteResult{}, err
	}
	var res ProvisionSiteResult
	require.NoError(t, env.GetWorkflowResult(&res))
	return res, nil
}

func TestProvisionSiteCreatesWhatIsMissingAndASecondRunChangesNothing(t *testing.T) {
	f := usSite()
	res, err := runProvision(t, f, provisionInput("us", 3))
	require.NoError(t, err)
	require.True(t, res.Changed)
	require.Equal(t, []string{"us-web-2", "us-web-3"}, sorted(res.Created))
	require.Equal(t, []string{"us-web-2", "us-web-3"}, sorted(res.AddedToLB))
	require.Equal(t, []string{"us-web-1", "us-web-2", "us-web-3"}, sorted(res.Ready))
	require.Equal(t, []string{"www.mdc.test."}, res.DNSChanged)
	require.True(t, res.DBRepointed)
	// us-web-1 runs on h0: the new VMs go to h1 first, then h0.
	require.Equal(t, "h1", f.vms["us/us-web-2"].Host)
	require.Equal(t, "h0", f.vms["us/us-web-3"].Host)
	require.Equal(t, vsphere.PoweredOn, f.vms["us/us-web-3"].PowerState)
	require.Equal(t, lb.StateUp, f.servers["us/us-web-3"].State)
	require.Equal(t, []string{"Repoint us uk"}, f.Calls("Repoint"))
	for _, c := range f.Calls(sideEffects...) {
		require.NotContains(t, c, "us-web-1", "the VM that was there is left alone")
	}
	for _, s := range res.Progress.Steps {
		require.Equal(t, StepDone, s.State, s.Name)
	}

	before := len(f.Calls(sideEffects...))
	again, err := runProvision(t, f, provisionInput("us", 3))
	require.NoError(t, err)
	require.False(t, again.Changed)
	require.Empty(t, again.Created)
	require.Empty(t, again.AddedToLB)
	require.Empty(t, again.PoweredOn)
	require.Empty(t, again.DNSChanged)
	require.False(t, again.DBRepointed)
	require.Len(t, f.Calls(sideEffects...), before, "a complete site is only read: %v", f.Calls(sideEffects...)[before:])
	require.Equal(t, []string{"us-web-1", "us-web-2", "us-web-3"}, sorted(again.Ready))
}

func TestProvisionSiteUndoesItsOwnClonesWhenTheThirdCloneFails(t *testing.T) {
	f := usSite()
	f.failClone["us-web-4"] = apperrors.Rejected("datastore LocalDS_0 is full")
	_, err := runProvision(t, f, provisionInput("us", 4))
	require.Error(t, err)
	require.Contains(t, err.Error(), "clone us-web-4 from web-template at site us")
	require.Contains(t, err.Error(), "datastore LocalDS_0 is full")

	require.Equal(t, []string{"CloneVM us-web-2", "CloneVM us-web-3", "CloneVM us-web-4"}, sorted(f.Calls("CloneVM")))
	undo := f.Calls("RemoveServer", "DestroyVM")
	require.Equal(t, []string{"RemoveServer us-web-3", "RemoveServer us-web-2", "DestroyVM us-web-4", "DestroyVM us-web-3", "DestroyVM us-web-2"}, undo,
		"servers out of the balancer first, then the clones, newest first")
	for _, c := range f.Calls(sideEffects...) {
		require.NotContains(t, c, "us-web-1", "the VM that was there before is never touched")
	}
	require.Contains(t, f.vms, "us/us-web-1")
	require.NotContains(t, f.vms, "us/us-web-2")
	require.NotContains(t, f.vms, "us/us-web-3")
	require.Equal(t, []string{"us-web-1"}, serverNames(f, "us"))
	require.Empty(t, f.Calls("SetGeoRecord", "Repoint"), "DNS and the database are not reached")
}

func TestProvisionSiteReportsCompensationInItsProgress(t *testing.T) {
	f := usSite()
	f.failClone["us-web-2"] = apperrors.Rejected("no space")
	env := newSiteEnv(f)
	env.ExecuteWorkflow(ProvisionSiteName, provisionInput("us", 2))
	require.Error(t, env.GetWorkflowError())
	v, err := env.QueryWorkflow(ProgressQuery)
	require.NoError(t, err)
	var p Progress
	require.NoError(t, v.Get(&p))
	last := p.Steps[len(p.Steps)-1]
	require.Equal(t, "compensate", last.Name)
	require.Equal(t, StepDone, last.State)
	require.Contains(t, last.Detail, "destroyed 1 VMs")
	require.Equal(t, []string{"DestroyVM us-web-2"}, f.Calls("DestroyVM", "RemoveServer"))
}

func TestProvisionSiteNeverRunsMoreThanMaxParallelClones(t *testing.T) {
	f := usSite()
	env := newSiteEnv(f)
	inFlight, most := 0, 0
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == "CloneVM" {
			inFlight++
			most = max(most, inFlight)
		}
	})
	env.SetOnActivityCompletedListener(func(info *activity.Info, _ converter.EncodedValue, _ error) {
		if info.ActivityType.Name == "CloneVM" {
			inFlight--
		}
	})
	in := provisionInput("us", 8)
	in.MaxParallel = 3
	env.ExecuteWorkflow(ProvisionSiteName, in)
	require.NoError(t, env.GetWorkflowError())
	var res ProvisionSiteResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Len(t, res.Created, 7)
	require.Equal(t, 3, most, "clones run three at a time, never more")
	require.Equal(t, 0, inFlight)
}

func TestProvisionSitePowersOnAStoppedVMAndLeavesADrainedServerOut(t *testing.T) {
	f := usSite()
	f.addVM("us", vsphere.VM{Name: "us-web-2", PowerState: vsphere.PoweredOff, Host: "h1", Tags: webTags("us")})
	s := f.servers["us/us-web-1"]
	s.State = lb.StateDrain
	f.servers["us/us-web-1"] = s
	f.unhealthy["http://127.9.0.10:8080/healthz"] = 3
	res, err := runProvision(t, f, provisionInput("us", 2))
	require.NoError(t, err)
	require.Empty(t, res.Created)
	require.Equal(t, []string{"us-web-2"}, res.PoweredOn)
	require.Equal(t, []string{"us-web-2"}, res.AddedToLB)
	require.Equal(t, []string{"us-web-1"}, res.OutOfRotation)
	require.Equal(t, lb.StateDrain, f.servers["us/us-web-1"].State, "an operator's drain is respected")
	require.Len(t, f.Calls("CheckHTTP"), 4, "three unhealthy answers, then healthy")
}

func TestProvisionSiteFailsWhenANodeNeverGetsHealthyAndUndoesIt(t *testing.T) {
	f := usSite()
	f.unhealthy["http://127.9.0.10:8080/healthz"] = 1 << 20
	in := provisionInput("us", 2)
	_, err := runProvision(t, f, in)
	require.Error(t, err)
	require.Contains(t, err.Error(), "us-web-2 did not become healthy at http://127.9.0.10:8080/healthz within 2m0s")
	require.Equal(t, []string{"DestroyVM us-web-2"}, f.Calls("DestroyVM", "RemoveServer"), "never added, so only destroyed")
}

func TestProvisionSiteRefusesToDemoteALivePrimaryBeforeChangingAnything(t *testing.T) {
	f := usSite()
	f.dbRole["us"] = db.RolePrimary
	_, err := runProvision(t, f, provisionInput("us", 3))
	require.Error(t, err)
	require.Contains(t, err.Error(), "site us's database is a writable primary")
	requireNonRetryable(t, err, apperrors.TypeRejected)
	require.Empty(t, f.Calls(sideEffects...))
}

func TestProvisionSiteLeavesThePrimaryDatabaseAlone(t *testing.T) {
	f := usSite()
	in := provisionInput("us", 1)
	in.Database = &ProvisionDatabase{Role: db.RolePrimary}
	res, err := runProvision(t, f, in)
	require.NoError(t, err)
	require.Empty(t, f.Calls("Repoint", "ReplicationStatus"))
	require.Contains(t, res.Progress.Steps[len(res.Progress.Steps)-1].Detail, "primary: nothing to set up")
}

func TestProvisionSiteRecognisesTheReplicationSourceByAddressAndRestartsStoppedReplication(t *testing.T) {
	f := usSite()
	f.dbRole["us"], f.dbMaster["us"], f.dbMasterAddr["us"] = db.RoleReplica, "uk", "127.1.0.1:3306"
	in := provisionInput("us", 1)
	in.Database.PrimaryAddress = "127.1.0.1:3306"
	res, err := runProvision(t, f, in)
	require.NoError(t, err)
	require.False(t, res.DBRepointed)
	require.Empty(t, f.Calls("Repoint"), "replicating from the primary's address already")

	f.sqlStopped["us"] = true
	_, err = runProvision(t, f, in)
	require.NoError(t, err)
	require.Equal(t, []string{"Repoint us uk"}, f.Calls("Repoint"), "a stopped SQL thread is not a working replica")
}

func TestProvisionSiteRefusesANameTakenByAnUntaggedVM(t *testing.T) {
	f := usSite()
	f.addVM("us", vsphere.VM{Name: "us-web-2", PowerState: vsphere.PoweredOn, Host: "h1"})
	_, err := runProvision(t, f, provisionInput("us", 2))
	require.Error(t, err)
	require.Contains(t, err.Error(), "VM names us-web-2 are taken by VMs without the tags of service web")
	require.Empty(t, f.Calls(sideEffects...))
}

func TestProvisionSiteRejectsBadInputAtOnce(t *testing.T) {
	f := usSite()
	in := provisionInput("us", 2)
	in.Services[0].Tags = nil
	in.Services[0].VMs = append(in.Services[0].VMs, "us-web-1")
	in.Database = &ProvisionDatabase{Role: db.RoleReplica, PrimarySite: "us"}
	_, err := runProvision(t, f, in)
	require.Error(t, err)
	requireNonRetryable(t, err, apperrors.TypeBadInput)
	for _, want := range []string{"no tags", `VM name "us-web-1" is empty or listed twice`, "a replica needs a primary site other than us"} {
		require.Contains(t, err.Error(), want)
	}
	require.Empty(t, f.Calls("FindVMs"))
}

func requireNonRetryable(t *testing.T, err error, typ string) {
	t.Helper()
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae), "%v", err)
	require.Equal(t, typ, ae.Type())
}

func serverNames(f *fakeDC, site string) []string {
	var names []string
	for key, s := range f.servers {
		if strings.HasPrefix(key, site+"/") {
			names = append(names, s.Name)
		}
	}
	return sorted(names)
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
}
