package triggers

import (
	"fmt"

	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/workflows"
)

// FailoverTarget chooses where a failed site's services go: the primary
// (database) site when another site failed, else the first other site in
// file order.
func FailoverTarget(p *platform.Platform, failed string) (string, error) {
	if prim := p.PrimarySite(); prim != nil && prim.Name != failed {
		return prim.Name, nil
	}
	for _, s := range p.Sites {
		if s.Name != failed {
			return s.Name, nil
		}
	}
	return "", fmt.Errorf("site %s failed and the platform file has no other site to fail over to", failed)
}

// DisasterFailoverInput builds FailoverSite's input for a site.down event:
// disaster mode towards FailoverTarget, requested by "mdc-trigger". It is
// the FailoverInput `mdc trigger` wires in.
func DisasterFailoverInput(p *platform.Platform, failed string) (any, error) {
	target, err := FailoverTarget(p, failed)
	if err != nil {
		return nil, err
	}
	in, err := workflows.NewFailoverSiteInput(p, failed, target, workflows.ModeDisaster)
	if err != nil {
		return nil, err
	}
	in.Reason = "site.down events from the monitors"
	in.RequestedBy = "mdc-trigger"
	return in, nil
}
