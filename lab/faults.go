package lab

import "github.com/vmware/govmomi/simulator"

// VCenterSimulator is the vcsim service of site's vCenter, for tests that
// inject faults (simulator.FaultInjectionRule) into what mdc asks of it.
func (l *Lab) VCenterSimulator(site string) (*simulator.Service, error) {
	s, err := l.Site(site)
	if err != nil {
		return nil, err
	}
	return s.vc.Simulator(), nil
}
