package vsphere

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/vmware/govmomi/vim25"

	"github.com/microdc/mdc/apperrors"
)

// Replica is one replica VM at a site.
type Replica struct {
	Name string
	// Of is the VM it was copied from (mdc.replica-of).
	Of string
	// SourceSite is the site it was copied from (mdc.replica-site).
	SourceSite string
	// ReplicatedAt is its mdc.replicated-at tag; zero when the tag is
	// missing or unparsable (such replicas sort first, as oldest).
	ReplicatedAt time.Time
	PowerState   string
	Host         string
}

// ListReplicasInput names the site holding the replicas and, optionally,
// the VM they are replicas of.
type ListReplicasInput struct {
	Site string
	// Of selects the replicas of this VM; empty lists every replica.
	Of string
}

// ListReplicasResult lists replicas oldest first.
type ListReplicasResult struct {
	Replicas []Replica
}

// ListReplicas lists the replicas (VMs tagged mdc.replica-of) at the site,
// sorted by ReplicatedAt, oldest first (then by name). It changes nothing.
func (a *Activities) ListReplicas(ctx context.Context, in ListReplicasInput) (ListReplicasResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return ListReplicasResult{}, err
	}
	if in.Of != "" {
		if err := checkName("ListReplicas: Of", in.Of); err != nil {
			return ListReplicasResult{}, err
		}
	}
	var res ListReplicasResult
	err = s.do(ctx, "list the replicas of "+orAll(in.Of), func(c *vim25.Client) error {
		v, err := s.inventory(ctx, c)
		if err != nil {
			return err
		}
		res.Replicas, err = v.replicas(ctx, in.Of)
		return err
	})
	return res, err
}

func orAll(of string) string {
	if of == "" {
		return "every VM"
	}
	return fmt.Sprintf("VM %q", of)
}

// replicas lists the site's replicas of of (all when empty), oldest first.
func (v *inv) replicas(ctx context.Context, of string) ([]Replica, error) {
	vms, err := v.siteVMs(ctx)
	if err != nil {
		return nil, err
	}
	out := []Replica{}
	for _, vm := range vms {
		src, ok := vm.Tags[TagReplicaOf]
		if !ok || (of != "" && src != of) {
			continue
		}
		at, _ := time.Parse(time.RFC3339, vm.Tags[TagReplicatedAt])
		out = append(out, Replica{
			Name: vm.Name, Of: src, SourceSite: vm.Tags[TagReplicaSite], ReplicatedAt: at,
			PowerState: vm.PowerState, Host: vm.Host,
		})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].ReplicatedAt.Equal(out[j].ReplicatedAt) {
			return out[i].ReplicatedAt.Before(out[j].ReplicatedAt)
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// PruneReplicasInput says how many replicas of a VM to keep at a site.
type PruneReplicasInput struct {
	Site string
	Of   string
	// Keep is how many of the newest powered-off replicas to keep; at least 1.
	Keep int
}

// PruneReplicasResult says what was destroyed and what remains.
type PruneReplicasResult struct {
	Destroyed []string
	// Kept are the newest powered-off replicas, newest first.
	Kept []string
	// InUse are replicas that are powered on (a failover promoted them):
	// never destroyed, and not counted in Keep.
	InUse   []string
	Changed bool
}

// PruneReplicas destroys the oldest powered-off replicas of a VM beyond the
// Keep newest. Powered-on replicas are in use and are left alone. A second
// run finds nothing to destroy.
func (a *Activities) PruneReplicas(ctx context.Context, in PruneReplicasInput) (PruneReplicasResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return PruneReplicasResult{}, err
	}
	if err := checkName("PruneReplicas: Of", in.Of); err != nil {
		return PruneReplicasResult{}, err
	}
	if in.Keep < 1 {
		return PruneReplicasResult{}, apperrors.BadInput("PruneReplicas: Keep is %d: keep at least 1 replica (destroy the last ones one by one with DestroyVM if you mean to)", in.Keep)
	}
	res := PruneReplicasResult{Destroyed: []string{}, Kept: []string{}, InUse: []string{}}
	err = s.do(ctx, fmt.Sprintf("prune the replicas of %q", in.Of), func(c *vim25.Client) error {
		v, err := s.inventory(ctx, c)
		if err != nil {
			return err
		}
		reps, err := v.replicas(ctx, in.Of)
		if err != nil {
			return err
		}
		res.Kept, res.InUse = res.Kept[:0], res.InUse[:0]
		for i := len(reps) - 1; i >= 0; i-- { // newest first
			r := reps[i]
			switch {
			case r.PowerState != PoweredOff:
				res.InUse = append(res.InUse, r.Name)
			case len(res.Kept) < in.Keep:
				res.Kept = append(res.Kept, r.Name)
			default:
				vm, ok, err := v.lookup(ctx, r.Name)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				heartbeat(ctx, "pruning replica "+r.Name)
				changed, err := v.destroy(ctx, vm)
				if err != nil {
					return err
				}
				if changed {
					res.Destroyed = append(res.Destroyed, r.Name)
				}
			}
		}
		return nil
	})
	res.Changed = len(res.Destroyed) > 0
	return res, err
}
