// Package vsphere holds mdc's vSphere activities: find, clone, power, snapshot,
// destroy, relocate and replicate VMs, fence a site and put hosts into
// maintenance, through govmomi against each site's vCenter (or, in the lab
// and in tests, each site's vcsim).
//
// Every operation is a method of Activities with its own input and result
// struct, names the site it touches and is idempotent: a re-run after a crash
// finds the work done and reports Changed=false. VMs are always looked up by
// name inside the site's VM folder, never by a remembered managed object ID,
// because IDs change when a vCenter (or vcsim) is rebuilt.
//
// VM tags are ExtraConfig keys starting with "mdc." (see TagRole and the
// other Tag constants), so any vSphere client can read them.
//
// Errors are typed with package apperrors: bad input, unknown objects,
// rejected credentials and permanent refusals are non-retryable; a vCenter
// that is down or slow gives a retryable apperrors.Unavailable within the
// context's deadline; a state that forbids the operation for now (a host
// still running VMs) gives a retryable apperrors.Conflict.
//
// How the workflows use it (activities run on the task queue of the site
// they touch, "mdc-site-<name>"):
//
//   - ProvisionSite / ScaleOut: CloneVM from the service's template and
//     golden snapshot with PowerOn, then WaitForIP; ScaleIn: PowerOff, DestroyVM.
//   - ReplicateVM (scheduled per protected VM): ReplicateVM to the other site
//     with a ReplicaName chosen by the workflow, then PruneReplicas.
//   - FailoverSite: FenceSite on the failed site (a dead vCenter is a result,
//     Unreachable=true, not an error), ListReplicas and PowerOn at the target.
//   - DrainHost: FindVMs, RelocateVM each powered-on VM away, EnterMaintenance.
package vsphere
