package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/microdc/mdc/activities/db"
	"github.com/microdc/mdc/activities/events"
	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

func TestPromotionBeyondTheMaxRPOIsRefusedWithTheLag(t *testing.T) {
	for _, tc := range []struct {
		lag  float64
		want string
	}{
		{45, "refused: replica lag 45.000s exceeds the max RPO of 30s; rerun with Force to accept the data loss"},
		{-1, "refused: replica lag unknown"},
	} {
		l := newFoLab(t)
		l.down["uk"] = true
		l.promote = func(in db.PromoteInput) (db.PromoteResult, error) {
			return db.PromoteResult{}, apperrors.ReplicaLag(tc.lag, 30)
		}
		res, p, err := l.run(foInput(ModeDisaster))
		require.NoError(t, err, "a refusal is a clear end, not a failure")
		require.Equal(t, StatusRefused, res.Status)
		require.True(t, strings.HasPrefix(res.Outcome, tc.want), res.Outcome)
		require.True(t, res.Database.Refused)
		require.False(t, res.Database.Promoted)
		require.Equal(t, tc.lag, res.Database.LagSeconds)
		require.Len(t, l.Calls("Promote"), 1, "ReplicaLagTooHigh is not retried")
		require.Empty(t, l.Calls("CloneVM", "AddServer", "CheckHTTP"), "nothing after a refused promotion")
		require.Equal(t, StepSkipped, foStep(t, p, "capacity").State)
		_, hasRPO := l.float(AttrRPO)
		require.False(t, hasRPO)
	}
}

func TestForcedPromotionRecordsTheLagAsRPO(t *testing.T) {
	l := newFoLab(t)
	l.down["uk"] = true
	l.promote = func(in db.PromoteInput) (db.PromoteResult, error) {
		require.True(t, in.Force)
		return db.PromoteResult{LagSeconds: 45, LagSource: db.LagIdleTime, MissingTransactions: -1}, nil
	}
	in := foInput(ModeDisaster)
	in.Force = true
	res, _, err := l.run(in)
	require.NoError(t, err)
	require.Equal(t, StatusFailedOver, res.Status)
	require.Equal(t, 45.0, res.RPOSeconds)
	require.Equal(t, []string{"RPO: promoted with replica lag 45.000s exceeds the max RPO of 30s; rerun with Force to accept the data loss"}, res.Forced)
	rpo, _ := l.float(AttrRPO)
	require.Equal(t, 45.0, rpo)
}

// Some of the failed site's VMs cannot be powered off: that is recorded and
// the failover goes on (the database is read-only, so they cannot write).
func TestPartialFencingIsRecorded(t *testing.T) {
	l := newFoLab(t)
	l.fenceSite = func(in vsphere.FenceSiteInput) (vsphere.FenceSiteResult, error) {
		return vsphere.FenceSiteResult{PoweredOff: []string{"uk-web-1"}, AlreadyOff: []string{"uk-db-1"},
			UnreachableVMs: []string{"uk-web-2"}, Errors: map[string]string{"uk-web-2": "host esx-2 not responding"}}, nil
	}
	res, p, err := l.run(foInput(ModePlanned))
	require.NoError(t, err)
	require.Equal(t, StatusFailedOver, res.Status)
	require.Equal(t, []string{"VM uk-web-2 at uk: host esx-2 not responding"}, res.Fence.Unfenced)
	require.Equal(t, []string{"uk-web-1"}, res.Fence.PoweredOff)
	require.Contains(t, foStep(t, p, "fence").Detail, "unfenced: VM uk-web-2")
}

// When no DNS server can be changed and the database does not answer,
// nothing may be promoted: two primaries could take writes.
func TestNoPromotionWhenNeitherTrafficNorDatabaseCanBeFenced(t *testing.T) {
	l := newFoLab(t)
	l.down["uk"] = true
	l.dnsDown["us"] = true
	_, p, err := l.run(foInput(ModeDisaster))
	require.Error(t, err)
	var ae *temporal.ApplicationError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, ErrTypeUnfenced, ae.Type())
	require.Contains(t, err.Error(), "not promoting us: neither traffic nor the database of uk could be fenced")
	require.Contains(t, err.Error(), "no DNS server of any site")
	require.Empty(t, l.Calls("Promote"))
	require.Equal(t, StepFailed, foStep(t, p, "fence").State)
	require.Equal(t, StepSkipped, foStep(t, p, "promote").State)
	require.Equal(t, []string{"Publish mdc.events.failover.failed"}, l.Calls("Publish"))
}

// A planned failover that stops after fencing puts the old site back.
func TestPlannedFailoverRollsBackWhenPromotionFails(t *testing.T) {
	l := newFoLab(t)
	l.promote = func(in db.PromoteInput) (db.PromoteResult, error) {
		if in.Site == "us" {
			return db.PromoteResult{}, apperrors.Conflict("site uk's server is writable")
		}
		return db.PromoteResult{LagSource: db.LagNotReplicating}, nil
	}
	_, p, err := l.run(foInput(ModePlanned))
	require.Error(t, err)
	require.Contains(t, err.Error(), "promote the database at us")
	require.Len(t, filterPrefix(l.Calls("Promote"), "Promote us"), 5, "retried per apiRetry")
	rb := foStep(t, p, "rollback")
	require.Equal(t, StepDone, rb.State)
	require.Equal(t, "database at uk writable again; powered on uk-db-1,uk-web-1,uk-web-2", rb.Detail)
	require.Equal(t, []string{"Promote uk maxlag=0s force=false gtid="}, filterPrefix(l.Calls("Promote"), "Promote uk"))
	require.ElementsMatch(t, []string{"PowerOn uk uk-db-1", "PowerOn uk uk-web-1", "PowerOn uk uk-web-2"}, l.Calls("PowerOn"))
	require.Empty(t, l.Calls("AddServer", "SetGeoRecord"))
}

func TestPlannedFailoverStopsWhenTheReplicaDoesNotCatchUp(t *testing.T) {
	l := newFoLab(t)
	l.errs["WaitForGTID"] = temporal.NewNonRetryableApplicationError("replica at 0-1-90", apperrors.TypeTimeout, nil)
	_, p, err := l.run(foInput(ModePlanned))
	require.Error(t, err)
	require.Contains(t, err.Error(), "the replica at us did not reach the primary's position 0-1-100 within 1m0s (nothing promoted)")
	require.Empty(t, filterPrefix(l.Calls("Promote"), "Promote us"))
	require.Equal(t, StepDone, foStep(t, p, "rollback").State)
}

func TestPlannedFailoverRefusedForLagRollsBack(t *testing.T) {
	l := newFoLab(t)
	l.promote = func(in db.PromoteInput) (db.PromoteResult, error) {
		if in.Site == "us" {
			require.Equal(t, time.Millisecond, in.MaxLag, "a planned failover allows no lag")
			return db.PromoteResult{}, apperrors.ReplicaLag(0.5, 0.001)
		}
		return db.PromoteResult{}, nil
	}
	res, p, err := l.run(foInput(ModePlanned))
	require.NoError(t, err)
	require.Equal(t, StatusRefused, res.Status)
	require.Equal(t, StepDone, foStep(t, p, "rollback").State)
	require.Contains(t, res.Fence.RolledBack, "database at uk writable again")
}

func TestPlannedFailoverNeedsTheOldPrimaryFenced(t *testing.T) {
	l := newFoLab(t)
	l.errs["Fence"] = apperrors.Auth("mdc_admin refused")
	_, p, err := l.run(foInput(ModePlanned))
	require.Error(t, err)
	require.Contains(t, err.Error(), "fence the database at uk (a planned failover needs the old primary read-only")
	require.Empty(t, l.Calls("Promote"), "the old primary was never fenced, so it is not touched by the rollback either")
	require.Equal(t, "powered on uk-db-1,uk-web-1,uk-web-2", foStep(t, p, "rollback").Detail)
}

// Transient activity failures are retried and the failover completes.
func TestTransientFailuresAreRetried(t *testing.T) {
	l := newFoLab(t)
	l.down["uk"] = true
	fails := 0
	l.addServer = func(in lb.AddServerInput) (lb.AddServerResult, error) {
		if in.Name == "us-web-1" && fails < 2 {
			fails++
			return lb.AddServerResult{}, apperrors.Unavailable(errors.New("EOF"), "haproxy runtime API")
		}
		return lb.AddServerResult{}, nil
	}
	res, _, err := l.run(foInput(ModeDisaster))
	require.NoError(t, err)
	require.Equal(t, StatusFailedOver, res.Status)
	require.Len(t, filterPrefix(l.Calls("AddServer"), "AddServer us us-web-1"), 3)
}

// A permanent failure fails the run with the step and reason in progress.
func TestPermanentFailureFailsWithTheStep(t *testing.T) {
	l := newFoLab(t)
	l.down["uk"] = true
	l.addServer = func(in lb.AddServerInput) (lb.AddServerResult, error) {
		return lb.AddServerResult{}, apperrors.Rejected("backend be_web is missing")
	}
	_, p, err := l.run(foInput(ModeDisaster))
	require.Error(t, err)
	require.Len(t, l.Calls("AddServer"), 2, "Rejected is not retried (one call per node)")
	s := foStep(t, p, "switch LB")
	require.Equal(t, StepFailed, s.State)
	require.Contains(t, s.Detail, "backend be_web is missing")
	require.Equal(t, StepSkipped, foStep(t, p, "verify").State)
	require.Equal(t, StepDone, foStep(t, p, "record").State)
}

// An event that cannot be published does not undo a failover.
func TestUnpublishedEventDoesNotFailTheFailover(t *testing.T) {
	l := newFoLab(t)
	l.down["uk"] = true
	l.publish = func(events.PublishInput) (events.PublishResult, error) {
		return events.PublishResult{}, apperrors.Rejected("no JetStream stream takes this subject")
	}
	res, p, err := l.run(foInput(ModeDisaster))
	require.NoError(t, err)
	require.Equal(t, StatusFailedOver, res.Status)
	require.Contains(t, res.EventError, "no JetStream stream")
	require.Empty(t, res.EventSubject)
	require.Equal(t, StepFailed, foStep(t, p, "publish").State)
}

// A planned failover needs every DNS server: one that does not answer stops
// it before anything is fenced.
func TestPlannedFailoverStopsBeforeFencingWhenADNSServerIsDown(t *testing.T) {
	l := newFoLab(t)
	l.dnsDown["uk"] = true
	_, p, err := l.run(foInput(ModePlanned))
	require.Error(t, err)
	require.Contains(t, err.Error(), "read www.mdc.test. at site uk")
	require.Contains(t, err.Error(), "pdns at uk did not answer")
	require.Equal(t, StepFailed, foStep(t, p, "lower TTL").State)
	require.Equal(t, StepSkipped, foStep(t, p, "rollback").State, "nothing was fenced")
	l.requireNoSideEffects("Publish")
}

// A disaster promotes as soon as traffic is fenced at the surviving sites:
// the failed site's own fencing runs in the background. Here uk's database
// fence answers only once us has been promoted (a worker that waited for it
// would never promote; the test would time out), and what it achieved is
// still in the result and the outcome event.
func TestDisasterFailoverDoesNotWaitForTheFailedSite(t *testing.T) {
	l := newFoLab(t)
	l.env.SetTestTimeout(30 * time.Second)
	l.down["uk"] = true
	promoted := make(chan struct{})
	var once sync.Once
	l.promote = func(in db.PromoteInput) (db.PromoteResult, error) {
		once.Do(func() { close(promoted) })
		return db.PromoteResult{LagSeconds: 1, LagSource: db.LagIdleTime, MissingTransactions: -1}, nil
	}
	l.dbFence = func(in db.FenceInput) (db.FenceResult, error) {
		<-promoted
		return db.FenceResult{Killed: 2}, nil
	}
	in := foInput(ModeDisaster)
	in.DetectedAt = foT0.Add(-20 * time.Second)
	res, p, err := l.run(in)
	require.NoError(t, err)
	require.Equal(t, StatusFailedOver, res.Status, res.Outcome)
	require.True(t, res.Fence.TrafficFencedByDNS)
	require.True(t, res.Fence.DatabaseFenced, "the background fence's outcome is in the result")
	require.Equal(t, 2, res.Fence.SessionsKilled)
	require.Equal(t, []string{"VMs at uk: list the VMs at uk: vCenter at uk did not answer"}, res.Fence.Unfenced)
	require.Equal(t, []string{"FindVMs uk"}, filterPrefix(l.Calls("FindVMs"), "FindVMs uk"), "the failed vCenter is asked once")
	require.Equal(t, []string{"site uk"}, res.DNSUnreachable)
	require.Contains(t, foStep(t, p, "fence").Detail, "DNS moved to us at us")
	require.Equal(t, 20.0, res.RTOSeconds)
	var ev events.Event
	require.NoError(t, json.Unmarshal(l.published[0].Data, &ev))
	var payload FailoverEventPayload
	require.NoError(t, json.Unmarshal(ev.Payload, &payload))
	require.Equal(t, res.Fence.Unfenced, payload.Unfenced, "the event is published after the background fence ended")
}

// Promote heartbeats, so a worker lost in the middle of it is noticed at
// the heartbeat timeout (seconds), not at its 90 s StartToClose: that wait
// would all be RTO.
func TestPromoteIsWatchedByAShortHeartbeatTimeout(t *testing.T) {
	l := newFoLab(t)
	l.down["uk"] = true
	var hb, stc time.Duration
	l.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == "Promote" {
			hb, stc = info.HeartbeatTimeout, info.StartToCloseTimeout
		}
	})
	res, _, err := l.run(foInput(ModeDisaster))
	require.NoError(t, err)
	require.Equal(t, StatusFailedOver, res.Status)
	require.Equal(t, 15*time.Second, hb, "Promote's heartbeat timeout")
	require.Greater(t, stc, hb, "StartToClose above the heartbeat timeout, which bounds a lost attempt")
}
