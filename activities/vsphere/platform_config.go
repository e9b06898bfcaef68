package vsphere

import "github.com/microdc/mdc/platform"

// SiteConfigOf is a site's vCenter from the platform file, with the
// credentials its *_env variables resolved to.
func SiteConfigOf(vc platform.VCenter, username, password string) SiteConfig {
	return SiteConfig{
		URL: vc.URL, Insecure: vc.Insecure, Username: username, Password: password, Datacenter: vc.Datacenter,
		Cluster: vc.Cluster, Hosts: vc.Hosts, Datastore: vc.Datastore, Network: vc.Network, Folder: vc.Folder,
		ResourcePool: vc.ResourcePool,
	}
}
