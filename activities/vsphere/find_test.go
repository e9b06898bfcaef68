package vsphere

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/apperrors"
)

func TestSelectVMsByNameAndTags(t *testing.T) {
	web := map[string]string{TagRole: "web", TagService: "web"}
	vms := []vmRec{
		{VM: VM{Name: "a", Tags: web}},
		{VM: VM{Name: "b", Tags: map[string]string{TagRole: "db"}}},
		{VM: VM{Name: "c"}},
	}
	names := func(r FindVMsResult) []string {
		var out []string
		for _, vm := range r.VMs {
			out = append(out, vm.Name)
		}
		return out
	}
	require.Equal(t, []string{"a", "b", "c"}, names(selectVMs(vms, nil, nil)))
	require.Equal(t, []string{"a"}, names(selectVMs(vms, nil, map[string]string{TagRole: "web"})))
	r := selectVMs(vms, []string{"b", "c", "zz", "zz"}, nil)
	require.Equal(t, []string{"b", "c"}, names(r))
	require.Equal(t, []string{"zz"}, r.Missing)
	r = selectVMs(vms, []string{"b"}, web)
	require.Empty(t, r.VMs)
	require.Empty(t, r.Missing, "b exists, it just lacks the tags")
}

func TestFindVMs(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)

	all, err := l.a.FindVMs(ctx, FindVMsInput{Site: "uk"})
	require.NoError(t, err)
	require.Len(t, all.VMs, 4)
	byName := map[string]VM{}
	for _, vm := range all.VMs {
		byName[vm.Name] = vm
	}
	require.True(t, byName["web-template"].Template)
	web1 := byName["uk-web-1"]
	require.Equal(t, PoweredOn, web1.PowerState)
	require.Contains(t, l.vc["uk"].Hosts(), web1.Host)
	require.Equal(t, map[string]string{TagRole: "web", TagService: "web", TagSite: "uk"}, web1.Tags)

	web, err := l.a.FindVMs(ctx, FindVMsInput{Site: "uk", Tags: map[string]string{TagRole: "web", TagService: "web"}})
	require.NoError(t, err)
	var names []string
	for _, vm := range web.VMs {
		names = append(names, vm.Name)
	}
	require.Equal(t, []string{"uk-web-1", "uk-web-2", "web-template"}, names)

	some, err := l.a.FindVMs(ctx, FindVMsInput{Site: "uk", Names: []string{"uk-db-1", "nope"}})
	require.NoError(t, err)
	require.Len(t, some.VMs, 1)
	require.Equal(t, "db", some.VMs[0].Tags[TagRole])
	require.Equal(t, []string{"nope"}, some.Missing)

	// IP as the lab's guest agent would set it.
	require.NoError(t, l.vc["uk"].SetGuestIP(ctx, "uk-web-1", "127.54.0.10"))
	one, err := l.a.FindVMs(ctx, FindVMsInput{Site: "uk", Names: []string{"uk-web-1"}})
	require.NoError(t, err)
	require.Equal(t, "127.54.0.10", one.VMs[0].IP)

	_, err = l.a.FindVMs(ctx, FindVMsInput{Site: "mars"})
	requireType(t, err, apperrors.TypeBadInput)
	require.ErrorContains(t, err, "configured sites are uk")
	_, err = l.a.FindVMs(ctx, FindVMsInput{Site: "uk", Names: []string{""}})
	requireType(t, err, apperrors.TypeBadInput)
	_, err = l.a.FindVMs(ctx, FindVMsInput{Site: "uk", Tags: map[string]string{"role": "web"}})
	requireType(t, err, apperrors.TypeBadInput)
}
