package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/platform"
)

func examplePlatform(t *testing.T) *platform.Platform {
	t.Helper()
	p, err := platform.Parse("example.yaml", platform.Example)
	require.NoError(t, err)
	return p
}

func TestNewProvisionSiteInputDescribesTheSiteFromThePlatformFile(t *testing.T) {
	p := examplePlatform(t)
	p.Services[0].Replicas.Min = 2
	in, err := NewProvisionSiteInput(p, "us")
	require.NoError(t, err)
	require.Equal(t, "us", in.Site)
	require.Len(t, in.Services, 1)
	svc := in.Services[0]
	require.Equal(t, []string{"us-web-1", "us-web-2"}, svc.VMs)
	require.Equal(t, map[string]string{vsphere.TagRole: "web", vsphere.TagService: "web", vsphere.TagSite: "us"}, svc.Tags)
	require.Equal(t, "web-template", svc.Template)
	require.Equal(t, "golden", svc.Snapshot)
	require.Equal(t, "LocalDS_0", svc.Datastore)
	require.Empty(t, svc.Hosts, "us lists no hosts: vSphere places")
	require.Equal(t, "be_web", svc.Backend)
	require.Equal(t, 8080, svc.Port)
	require.Equal(t, "/healthz", svc.HealthPath)
	require.Equal(t, &ProvisionDNS{
		Zone: "shop.example.", Name: "www.shop.example.", TTL: 60, Fallback: "127.1.0.2",
		Answers: []dns.GeoAnswer{
			{Region: "eu", Subnets: []string{"127.1.0.0/16", "10.1.0.0/16"}, IP: "127.1.0.2"},
			{Region: "us", Subnets: []string{"127.2.0.0/16", "10.2.0.0/16"}, IP: "127.2.0.2"},
		},
		HealthCheck: &dns.HealthCheck{Port: 8080, Path: "/healthz"},
	}, svc.DNS, "every region gets its own site; clients of no region the primary")
	require.Equal(t, &ProvisionDatabase{Role: "replica", PrimarySite: "uk", PrimaryAddress: "127.1.0.1:3306"}, in.Database)
	require.Empty(t, in.problems(), "the input it builds is valid")

	uk, err := NewProvisionSiteInput(p, "uk")
	require.NoError(t, err)
	require.Equal(t, []string{"DC0_C0_H0", "DC0_C0_H1"}, uk.Services[0].Hosts)
	require.Equal(t, "primary", uk.Database.Role)

	_, err = NewProvisionSiteInput(p, "mars")
	require.ErrorContains(t, err, `unknown site "mars": the platform file has uk, us`)
}

func TestNewReplicateVMInputComesFromTheReplicationList(t *testing.T) {
	p := examplePlatform(t)
	in, err := NewReplicateVMInput(p, "uk", "web-template")
	require.NoError(t, err)
	require.Equal(t, ReplicateVMInput{VM: "web-template", Site: "uk", Target: "us", RPO: time.Hour, Keep: 3}, in)
	require.Len(t, NewReplicateVMInputs(p), 1)
	_, err = NewReplicateVMInput(p, "uk", "uk-db-1")
	require.ErrorContains(t, err, "VM uk-db-1 of site uk is not in the platform file's replication list (protected VMs: uk/web-template)")
}

func TestNewDrainHostInputOffersTheSitesPlacementHosts(t *testing.T) {
	p := examplePlatform(t)
	in, err := NewDrainHostInput(p, "uk", "DC0_C0_H0", time.Minute)
	require.NoError(t, err)
	require.Equal(t, DrainHostInput{Site: "uk", Host: "DC0_C0_H0", Deadline: time.Minute, Hosts: []string{"DC0_C0_H0", "DC0_C0_H1"}}, in)
	_, err = NewDrainHostInput(p, "uk", "", 0)
	require.ErrorContains(t, err, "name the host to drain")
}

func TestNewFailbackInputReprotectsTheReturnedSite(t *testing.T) {
	p := examplePlatform(t)
	in, err := NewFailbackInput(p, "uk", "us", true)
	require.NoError(t, err)
	require.Equal(t, "uk", in.ReturnedSite)
	require.Equal(t, "us", in.CurrentPrimarySite)
	require.Equal(t, []ReplicateVMInput{{VM: "web-template", Site: "uk", Target: "us", RPO: time.Hour, Keep: 3}}, in.Replicate)
	require.Len(t, in.DNS, 1)
	require.Equal(t, "www.shop.example.", in.DNS[0].Name)
	require.Equal(t, "127.2.0.2", in.DNS[0].Fallback)
	for _, a := range in.DNS[0].Answers {
		require.Equal(t, "127.2.0.2", a.IP, "after the failover every region is answered by us")
	}
	require.NotNil(t, in.SwitchBack)
	require.Equal(t, "us", in.SwitchBack.FailedSite)
	require.Equal(t, "uk", in.SwitchBack.TargetSite)
	require.Equal(t, ModePlanned, in.SwitchBack.Mode)
	require.NoError(t, checkFailback(&in))

	back, err := NewFailbackInput(p, "us", "uk", false)
	require.NoError(t, err)
	require.Empty(t, back.Replicate, "us has no protected VMs")
	require.Nil(t, back.SwitchBack)
}
