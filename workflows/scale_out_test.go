package workflows

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

// scaleOutLab mocks every activity ScaleOut and ScaleIn use over a fake
// inventory and a fake balancer, recording the calls in order.
type scaleOutLab struct {
	env *testsuite.TestWorkflowEnvironment
	vc  *fakeVC

	mu      sync.Mutex
	calls   []string
	clones  []vsphere.CloneVMInput
	servers map[string]string // balancer: name -> addr
	// Failure switches.
	powerOnErr, enableErr, drainErr error
	cloneErrs                       []error // per attempt
	refuseHost                      string  // CloneVM on it is a retryable Conflict
	healthyAfter                    int     // CheckHTTP turns healthy at this check; 0 never
	checks                          int
}

func newScaleOutLab() *scaleOutLab {
	l := &scaleOutLab{env: newScaleEnv(), vc: newFakeVC(), servers: map[string]string{}}
	env := l.env
	env.OnActivity(asVSphere.FindVMs, mock.Anything, mock.Anything).Return(l.vc.find)
	env.OnActivity(asVSphere.CloneVM, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.CloneVMInput) (vsphere.CloneVMResult, error) {
		l.log("clone")
		l.mu.Lock()
		l.clones = append(l.clones, in)
		attempt := len(l.clones)
		l.mu.Unlock()
		if attempt <= len(l.cloneErrs) && l.cloneErrs[attempt-1] != nil {
			return vsphere.CloneVMResult{}, l.cloneErrs[attempt-1]
		}
		if in.Host != "" && in.Host == l.refuseHost {
			return vsphere.CloneVMResult{}, apperrors.Conflict("host %s is in maintenance mode", in.Host)
		}
		host := in.Host
		if host == "" {
			host = "H2"
		}
		l.vc.put(vsphere.VM{Name: in.Name, PowerState: vsphere.PoweredOff, Host: host, Tags: in.Tags})
		return vsphere.CloneVMResult{Name: in.Name, Host: host, PowerState: vsphere.PoweredOff, Changed: true}, nil
	})
	env.OnActivity(asVSphere.PowerOn, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.PowerInput) (vsphere.PowerResult, error) {
		l.log("power on")
		if l.powerOnErr != nil {
			return vsphere.PowerResult{}, l.powerOnErr
		}
		return vsphere.PowerResult{PowerState: vsphere.PoweredOn, Changed: true}, nil
	})
	env.OnActivity(asVSphere.WaitForIP, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.WaitForIPInput) (vsphere.WaitForIPResult, error) {
		l.log("wait for IP")
		return vsphere.WaitForIPResult{IP: "10.1.0.12"}, nil
	})
	env.OnActivity(asHealth.CheckHTTP, mock.Anything, mock.Anything).Return(func(_ context.Context, in health.CheckHTTPInput) (health.CheckHTTPResult, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.checks++
		if l.healthyAfter > 0 && l.checks >= l.healthyAfter {
			return health.CheckHTTPResult{Healthy: true, Status: 200}, nil
		}
		return health.CheckHTTPResult{Reason: "connection refused"}, nil
	})
	env.OnActivity(asLB.AddServer, mock.Anything, mock.Anything).Return(func(_ context.Context, in lb.AddServerInput) (lb.AddServerResult, error) {
		l.log("add " + in.Addr)
		l.mu.Lock()
		defer l.mu.Unlock()
		l.servers[in.Name] = in.Addr
		return lb.AddServerResult{Changed: true}, nil
	})
	env.OnActivity(asLB.EnableServer, mock.Anything, mock.Anything).Return(func(_ context.Context, in lb.EnableServerInput) (lb.EnableServerResult, error) {
		l.log("enable")
		return lb.EnableServerResult{}, l.enableErr
	})
	env.OnActivity(asLB.DrainServer, mock.Anything, mock.Anything).Return(func(_ context.Context, in lb.DrainServerInput) (lb.DrainServerResult, error) {
		l.log("drain")
		if l.drainErr != nil {
			return lb.DrainResult{}, l.drainErr
		}
		return lb.DrainResult{Changed: true, Waited: 1500 * time.Millisecond}, nil
	})
	env.OnActivity(asLB.RemoveServer, mock.Anything, mock.Anything).Return(func(_ context.Context, in lb.RemoveServerInput) (lb.RemoveServerResult, error) {
		l.log("remove")
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.servers, in.Name)
		return lb.RemoveServerResult{Changed: true}, nil
	})
	env.OnActivity(asVSphere.PowerOff, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.PowerInput) (vsphere.PowerResult, error) {
		l.log("power off")
		return vsphere.PowerResult{PowerState: vsphere.PoweredOff, Changed: true}, nil
	})
	env.OnActivity(asVSphere.DestroyVM, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.DestroyVMInput) (vsphere.DestroyVMResult, error) {
		l.log("destroy " + in.Name)
		l.vc.remove(in.Name)
		return vsphere.DestroyVMResult{Changed: true}, nil
	})
	return l
}

func (l *scaleOutLab) log(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, s)
}

func scaleOutInput() ScaleOutInput {
	return ScaleOutInput{
		Site: "uk", Service: "web", Name: "uk-web-x1", Template: "web-template", Snapshot: "golden",
		Avoid: "uk-web-1", Port: 8080, HealthPath: "/healthz", HealthTimeout: 30 * time.Second,
	}
}

func (l *scaleOutLab) progress(t *testing.T) Progress {
	v, err := l.env.QueryWorkflow(ProgressQuery)
	require.NoError(t, err)
	var p Progress
	require.NoError(t, v.Get(&p))
	return p
}

func TestScaleOutClonesPowersOnWaitsForHealthAndAddsToTheLB(t *testing.T) {
	l := newScaleOutLab()
	l.healthyAfter = 3
	l.env.ExecuteWorkflow(ScaleOutName, scaleOutInput())
	require.NoError(t, l.env.GetWorkflowError())
	var res ScaleOutResult
	require.NoError(t, l.env.GetWorkflowResult(&res))

	require.Equal(t, []string{"clone", "power on", "wait for IP", "add 10.1.0.12:8080", "enable"}, l.calls)
	c := l.clones[0]
	require.Equal(t, "H1", c.Host, "H0 runs the hot node uk-web-1; H1 is the other host with VMs")
	require.Equal(t, "golden", c.Snapshot)
	require.Equal(t, "web-template", c.Source)
	require.False(t, c.PowerOn, "power-on is its own step")
	require.Equal(t, map[string]string{"mdc.role": "web", "mdc.service": "web", "mdc.site": "uk", "mdc.scaled": "true"}, c.Tags)
	require.Equal(t, 3, l.checks, "health checked until healthy")
	require.Equal(t, ScaleOutResult{Name: "uk-web-x1", Host: "H1", IP: "10.1.0.12", Progress: res.Progress}, res)
	for _, s := range res.Progress.Steps {
		require.Equal(t, StepDone, s.State, s.Name)
	}
}

// Host choice: fewest powered-on VMs among the placement hosts, the hot
// node's host only when there is no other.
func TestScaleOutPicksTheLeastLoadedOtherHost(t *testing.T) {
	cases := []struct {
		name  string
		hosts []string
		avoid string
		want  string
	}{
		{"placement hosts include an empty one", []string{"H0", "H1", "H2"}, "uk-web-1", "H2"},
		{"hosts seen in vCenter, avoiding the hot node's", nil, "uk-web-2", "H0"},
		{"another host even when it is busier", nil, "uk-web-1", "H1"},
		{"only the hot node's host", []string{"H0"}, "uk-web-1", "H0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newScaleOutLab()
			l.healthyAfter = 1
			in := scaleOutInput()
			in.Hosts, in.Avoid = c.hosts, c.avoid
			l.env.ExecuteWorkflow(ScaleOutName, in)
			require.NoError(t, l.env.GetWorkflowError())
			require.Equal(t, c.want, l.clones[0].Host)
		})
	}
}

// A host that refuses the clone (maintenance) is left to vCenter's placement.
func TestScaleOutFallsBackToVCenterPlacement(t *testing.T) {
	l := newScaleOutLab()
	l.healthyAfter = 1
	l.refuseHost = "H1"
	l.env.ExecuteWorkflow(ScaleOutName, scaleOutInput())
	require.NoError(t, l.env.GetWorkflowError())
	var res ScaleOutResult
	require.NoError(t, l.env.GetWorkflowResult(&res))
	require.Len(t, l.clones, 6, "five attempts on H1 (the retry policy), then one placed by vCenter")
	require.Equal(t, "", l.clones[5].Host)
	require.Equal(t, "H2", res.Host)
}

// A failed power-on destroys the clone this run made; nothing reached the LB.
func TestScaleOutCompensatesWhenPowerOnFails(t *testing.T) {
	l := newScaleOutLab()
	l.powerOnErr = apperrors.Rejected("host H1 refused to power on uk-web-x1: not enough memory")
	l.env.ExecuteWorkflow(ScaleOutName, scaleOutInput())
	err := l.env.GetWorkflowError()
	require.ErrorContains(t, err, "scale out uk-web-x1 at uk: power on")
	require.ErrorContains(t, err, "not enough memory")
	require.Equal(t, []string{"clone", "power on", "destroy uk-web-x1"}, l.calls)
	require.False(t, l.vc.has("uk-web-x1"))
	p := l.progress(t)
	require.Equal(t, StepFailed, p.Steps[2].State)
	require.Equal(t, StepSkipped, p.Steps[3].State)
	last := p.Steps[len(p.Steps)-1]
	require.Equal(t, "compensate: destroy clone", last.Name)
	require.Equal(t, StepDone, last.State)
}

// A copy that never turns healthy is destroyed at the health deadline.
func TestScaleOutCompensatesWhenHealthNeverPasses(t *testing.T) {
	l := newScaleOutLab()
	l.env.ExecuteWorkflow(ScaleOutName, scaleOutInput())
	err := l.env.GetWorkflowError()
	require.ErrorContains(t, err, "http://10.1.0.12:8080/healthz not healthy after 30s")
	require.ErrorContains(t, err, "connection refused")
	require.Equal(t, []string{"clone", "power on", "wait for IP", "destroy uk-web-x1"}, l.calls)
	require.Greater(t, l.checks, 5, "checked repeatedly, backing off")
	require.Less(t, l.checks, 20)
}

// Once in the LB, a failure takes the copy out of the LB before destroying it.
func TestScaleOutCompensatesTheLBToo(t *testing.T) {
	l := newScaleOutLab()
	l.healthyAfter = 1
	l.enableErr = apperrors.Rejected("haproxy refused: no such server")
	l.env.ExecuteWorkflow(ScaleOutName, scaleOutInput())
	require.ErrorContains(t, l.env.GetWorkflowError(), "enable in LB")
	require.Equal(t, []string{"clone", "power on", "wait for IP", "add 10.1.0.12:8080", "enable", "remove", "destroy uk-web-x1"}, l.calls)
	require.Empty(t, l.servers)
}

// A clone refused because the name belongs to another VM must not destroy
// that VM.
func TestScaleOutNeverDestroysAVMItDidNotMake(t *testing.T) {
	l := newScaleOutLab()
	l.vc.put(vsphere.VM{Name: "uk-web-x1", PowerState: vsphere.PoweredOn, Host: "H0", Tags: scaleTags(false)})
	l.cloneErrs = []error{temporal.NewNonRetryableApplicationError("a VM called uk-web-x1 already exists but is not the requested clone", apperrors.TypeConflict, nil)}
	l.env.ExecuteWorkflow(ScaleOutName, scaleOutInput())
	require.ErrorContains(t, l.env.GetWorkflowError(), "already exists")
	require.Equal(t, []string{"clone"}, l.calls)
	require.True(t, l.vc.has("uk-web-x1"))
	p := l.progress(t)
	require.Equal(t, "no clone of ours to destroy", p.Steps[len(p.Steps)-1].Detail)
}
