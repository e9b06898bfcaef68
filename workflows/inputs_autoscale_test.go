package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/platform"
)

func TestNewAutoscaleInputFromThePlatformFile(t *testing.T) {
	p, err := platform.Parse("example.yaml", platform.Example)
	require.NoError(t, err)
	in, err := NewAutoscaleInput(p, "uk", "web")
	require.NoError(t, err)
	require.Equal(t, ScalePolicy{OutLoad: 2, InLoad: 1, OutWindow: 30 * time.Second, InWindow: 2 * time.Minute,
		OutCooldown: time.Minute, InCooldown: 5 * time.Minute, Min: 1, Max: 4}, in.Policy)
	require.Equal(t, "uk", in.Site)
	require.Equal(t, "web", in.Service)
	require.Equal(t, "web-template", in.Template)
	require.Equal(t, "golden", in.Snapshot)
	require.Equal(t, "LocalDS_0", in.Datastore)
	require.Equal(t, "", in.Folder, "the site's folder is CloneVM's default")
	require.Equal(t, []string{"DC0_C0_H0", "DC0_C0_H1"}, in.Hosts)
	require.Equal(t, "be_web", in.Backend)
	require.Equal(t, 8080, in.Port)
	require.Equal(t, "/healthz", in.HealthPath)
	require.Nil(t, in.State)

	_, err = NewAutoscaleInput(p, "mars", "web")
	require.ErrorContains(t, err, `unknown site "mars": the platform file has uk, us`)
	_, err = NewAutoscaleInput(p, "uk", "mail")
	require.ErrorContains(t, err, `unknown service "mail": the platform file has web`)
}
