package monitor

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/platform"
)

// Node is one web node of the monitor's site.
type Node struct {
	Name    string
	IP      string
	Service string
	// Port and HealthPath are the service's, for the HTTP check.
	Port       int
	HealthPath string
}

// nodeLister lists the site's nodes.
type nodeLister interface {
	Nodes(ctx context.Context) ([]Node, error)
}

// vcenterLister lists nodes from vCenter: for each service, the site's
// powered-on VMs tagged with the service and the site, that are neither
// templates nor replicas of another site's VMs and report a guest IP.
// That is the set Autoscale counts as the service's nodes: a copy ScaleOut
// clones carries the same tags, and a copy ScaleIn powers off drops out,
// so the list follows scaling without a second source of truth (the LB's
// server list lags behind a new node until it is healthy).
type vcenterLister struct {
	vc       *vsphere.Activities
	site     string
	services []platform.Service
}

func (l *vcenterLister) Nodes(ctx context.Context) ([]Node, error) {
	var out []Node
	for _, svc := range l.services {
		r, err := l.vc.FindVMs(ctx, vsphere.FindVMsInput{
			Site: l.site, Tags: map[string]string{vsphere.TagService: svc.Name, vsphere.TagSite: l.site},
		})
		if err != nil {
			return nil, err
		}
		for _, vm := range r.VMs {
			if vm.Template || vm.Tags[vsphere.TagReplicaOf] != "" || vm.PowerState != vsphere.PoweredOn || vm.IP == "" {
				continue
			}
			out = append(out, Node{Name: vm.Name, IP: vm.IP, Service: svc.Name, Port: svc.Port, HealthPath: svc.HealthPath})
		}
	}
	slices.SortFunc(out, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// discoverLoop refreshes the node list every DiscoverInterval. When vCenter
// does not answer, the last list stays in use: the nodes may well still be
// serving, and the SNMP and HTTP loops report them if they are not.
func (m *Monitor) discoverLoop(ctx context.Context) {
	log := m.log.With("loop", "discover", "site", m.o.Site)
	cond := newCondition(log, "listing the site's nodes in vCenter")
	timeout := max(m.tune.DiscoverInterval, 10*time.Second)
	every(ctx, m.tune.DiscoverInterval, func(time.Time) {
		dctx, cancel := context.WithTimeout(ctx, timeout)
		nodes, err := m.lister.Nodes(dctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			cond.fail(err)
			return
		}
		cond.ok()
		if prev := m.nodes.Load(); prev == nil || !slices.Equal(*prev, nodes) {
			log.Info("nodes", "count", len(nodes), "nodes", nodeNames(nodes))
		}
		m.nodes.Store(&nodes)
	})
}

// currentNodes is the latest node list (empty before the first listing).
func (m *Monitor) currentNodes() []Node {
	if p := m.nodes.Load(); p != nil {
		return *p
	}
	return nil
}

func nodeNames(nodes []Node) string {
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name + "=" + n.IP
	}
	return strings.Join(names, " ")
}
