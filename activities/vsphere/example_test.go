package vsphere_test

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"

	"github.com/microdc/mdc/activities/vsphere"
)

// A scale-out step: clone a web VM, powered on, onto the least-loaded host.
// Running it again (as Temporal does after a worker crash) finds the clone
// and changes nothing. A workflow calls the same method through
// workflow.ExecuteActivity(ctx, a.CloneVM, in) with a nil *Activities.
func ExampleActivities_CloneVM() {
	simulator.Test(func(ctx context.Context, c *vim25.Client) {
		u := *c.URL()
		u.User = nil // credentials come from the platform file's secrets, not the URL
		a := vsphere.New(map[string]vsphere.SiteConfig{"uk": {
			URL: u.String(), Insecure: true, Username: "mdc", Password: "secret",
			Datacenter: "DC0", Cluster: "DC0_C0", Datastore: "LocalDS_0", Network: "VM Network", Folder: "/DC0/vm",
		}})
		defer vsphere.Logout(ctx, a)

		in := vsphere.CloneVMInput{
			Site: "uk", Source: "DC0_C0_RP0_VM0", Name: "uk-web-3", PowerOn: true,
			Tags: map[string]string{vsphere.TagRole: "web", vsphere.TagService: "web", vsphere.TagSite: "uk"},
		}
		for range 2 {
			res, err := a.CloneVM(ctx, in)
			fmt.Println(res.Name, res.PowerState, "changed:", res.Changed, "error:", err)
		}
	})
	// Output:
	// uk-web-3 poweredOn changed: true error: <nil>
	// uk-web-3 poweredOn changed: false error: <nil>
}
