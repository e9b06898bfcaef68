package triggers

import (
	"fmt"
	"sort"
	"strings"

	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/workflows"
)

// DisasterFailoverInput builds FailoverSite's input for a quorum of
// site.down votes: disaster mode towards the request's target (or
// platform.FailoverTarget), requested by "mdc-trigger", with the outage's
// start (the RTO clock) and the primary's last GTID (the RPO) from the
// votes. It is TemporalStarter's default FailoverInput.
func DisasterFailoverInput(p *platform.Platform, req FailoverRequest) (workflows.FailoverSiteInput, error) {
	target := req.TargetSite
	if target == "" {
		var err error
		if target, err = p.FailoverTarget(req.FailedSite); err != nil {
			return workflows.FailoverSiteInput{}, err
		}
	}
	in, err := workflows.NewFailoverSiteInput(p, req.FailedSite, target, workflows.ModeDisaster)
	if err != nil {
		return workflows.FailoverSiteInput{}, err
	}
	observers := append([]string(nil), req.Observers...)
	sort.Strings(observers)
	in.Reason = fmt.Sprintf("site.down from %d observers (%s), quorum %d", len(observers), strings.Join(observers, ", "), req.Quorum)
	in.RequestedBy = "mdc-trigger"
	in.DetectedAt = req.DetectedAt
	in.PrimaryGTID = req.PrimaryGTID
	// Only the platform's services: a vote cannot add work for a service
	// the failover does not know.
	for _, svc := range in.Services {
		if n := req.Serving[svc.Name]; n > 0 {
			if in.ServingAtFailedSite == nil {
				in.ServingAtFailedSite = map[string]int{}
			}
			in.ServingAtFailedSite[svc.Name] = n
		}
	}
	return in, nil
}
