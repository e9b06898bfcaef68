package vcenter

import "github.com/vmware/govmomi/simulator"

// Simulator is the vcsim service behind this vCenter. Tests inject faults
// into the calls mdc makes through it (AddFaultRule); nothing else should
// reach past the SDK endpoint.
func (v *VCenter) Simulator() *simulator.Service { return v.model.Service }
