package workflows

import (
	"fmt"
	"strings"

	"github.com/microdc/mdc/platform"
)

// NewAutoscaleInput builds Autoscale's input for service at site from the
// platform file: the service's scale policy and replica bounds, its
// template and golden snapshot, the site's datastore and placement hosts,
// the site's load-balancer backend and the service's port and health path.
// Start it under AutoscaleWorkflowID(service, site).
func NewAutoscaleInput(p *platform.Platform, site, service string) (AutoscaleInput, error) {
	s, ok := p.Site(site)
	if !ok {
		return AutoscaleInput{}, fmt.Errorf("unknown site %q: the platform file has %s", site, strings.Join(p.SiteNames(), ", "))
	}
	svc, ok := p.Service(service)
	if !ok {
		return AutoscaleInput{}, fmt.Errorf("unknown service %q: the platform file has %s", service, strings.Join(serviceNames(p), ", "))
	}
	sc := svc.Scale
	in := AutoscaleInput{
		Site: site, Service: service,
		Policy: ScalePolicy{
			OutLoad: sc.OutLoad, InLoad: sc.InLoad,
			OutWindow: sc.OutWindow.Duration, InWindow: sc.InWindow.Duration,
			OutCooldown: sc.OutCooldown.Duration, InCooldown: sc.InCooldown.Duration,
			Min: svc.Replicas.Min, Max: svc.Replicas.Max,
		},
		Template: svc.Template, Snapshot: svc.Snapshot,
		// The site's VM folder is CloneVM's default (Folder is relative to
		// it), so only the datastore is passed on.
		Datastore: s.VCenter.Datastore,
		Hosts:     append([]string(nil), s.VCenter.Hosts...),
		Backend:   s.LB.Backend, Port: svc.Port, HealthPath: svc.HealthPath,
	}
	if err := checkAutoscaleInput(&in); err != nil {
		return AutoscaleInput{}, fmt.Errorf("platform file: service %s at site %s: %w", service, site, err)
	}
	return in, nil
}
