package vsphere

import (
	"context"

	"github.com/vmware/govmomi/vim25"
)

// FindVMsInput selects VMs of a site's folder by name and/or tags.
type FindVMsInput struct {
	Site string
	// Names, when set, selects only these VMs.
	Names []string
	// Tags, when set, selects only VMs carrying all of these tags, e.g.
	// {"mdc.role": "web", "mdc.service": "web"}.
	Tags map[string]string
}

// FindVMsResult lists what was found.
type FindVMsResult struct {
	// VMs are sorted by name; templates are included (Template is true).
	VMs []VM
	// Missing are the requested Names that do not exist (not an error: a
	// search that finds nothing is an answer).
	Missing []string
}

// FindVMs lists the VMs of the site's folder that match every given
// criterion; with none it lists them all. It changes nothing.
func (a *Activities) FindVMs(ctx context.Context, in FindVMsInput) (FindVMsResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return FindVMsResult{}, err
	}
	for _, n := range in.Names {
		if err := checkName("FindVMs: a name in Names", n); err != nil {
			return FindVMsResult{}, err
		}
	}
	if err := checkTags("FindVMs: Tags", in.Tags); err != nil {
		return FindVMsResult{}, err
	}
	var res FindVMsResult
	err = s.do(ctx, "find VMs", func(c *vim25.Client) error {
		v, err := s.inventory(ctx, c)
		if err != nil {
			return err
		}
		vms, err := v.siteVMs(ctx)
		if err != nil {
			return err
		}
		res = selectVMs(vms, in.Names, in.Tags)
		return nil
	})
	return res, err
}

// selectVMs keeps the VMs named in names (all when empty) that carry tags.
func selectVMs(vms []vmRec, names []string, tags map[string]string) FindVMsResult {
	res := FindVMsResult{VMs: []VM{}}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	seen := map[string]bool{}
	for _, r := range vms {
		if len(want) > 0 && !want[r.Name] {
			continue
		}
		seen[r.Name] = true
		if hasTags(r.Tags, tags) {
			res.VMs = append(res.VMs, r.VM)
		}
	}
	for _, n := range names {
		if !seen[n] {
			res.Missing = append(res.Missing, n)
			seen[n] = true // report a repeated name once
		}
	}
	return res
}
