package vsphere

import (
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLatency measures the median latency of each operation against the
// lab's vcsims (both run on this machine; a real vCenter adds its task
// times). Each operation that changes something alternates so that every
// measured call does real work.
func TestLatency(t *testing.T) {
	integration(t)
	// vcsim logs every snapshot file name it skips; keep the table readable.
	log.SetOutput(io.Discard)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	l := startLab(t, true)
	ctx := testCtx(t)
	a := l.a
	hosts := l.vc["uk"].Hosts()
	require.NoError(t, l.vc["uk"].SetGuestIP(ctx, "uk-web-1", "127.54.0.10"))
	const n = 9
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	dr := l.cfg["uk"]
	dr.Folder = makeFolder(t, l.vc["uk"], "/DC0/vm", "dr")
	cfg := map[string]SiteConfig{"uk": l.cfg["uk"], "us": l.cfg["us"], "uk-dr": dr}
	a2 := New(cfg)
	t.Cleanup(func() { Logout(ctx, a2) })

	ops := []struct {
		name string
		run  func(i int) error
	}{
		{"FindVMs", func(int) error { _, err := a.FindVMs(ctx, FindVMsInput{Site: "uk", Tags: webTags}); return err }},
		{"CloneVM (linked, power on)", func(i int) error {
			_, err := a.CloneVM(ctx, CloneVMInput{Site: "uk", Source: "web-template", Snapshot: "golden", Name: fmt.Sprintf("lat-%d", i), Tags: webTags, PowerOn: true})
			return err
		}},
		{"CloneVM (already done)", func(i int) error {
			_, err := a.CloneVM(ctx, CloneVMInput{Site: "uk", Source: "web-template", Snapshot: "golden", Name: fmt.Sprintf("lat-%d", i), Tags: webTags, PowerOn: true})
			return err
		}},
		{"PowerOff", func(i int) error {
			_, err := a.PowerOff(ctx, PowerInput{Site: "uk", Name: fmt.Sprintf("lat-%d", i)})
			return err
		}},
		{"PowerOn", func(i int) error {
			_, err := a.PowerOn(ctx, PowerInput{Site: "uk", Name: fmt.Sprintf("lat-%d", i)})
			return err
		}},
		{"WaitForIP (has one)", func(int) error {
			_, err := a.WaitForIP(ctx, WaitForIPInput{Site: "uk", Name: "uk-web-1", Deadline: time.Now().Add(time.Second)})
			return err
		}},
		{"CreateSnapshot", func(i int) error {
			_, err := a.CreateSnapshot(ctx, SnapshotInput{Site: "uk", VM: "uk-db-1", Snapshot: fmt.Sprintf("s%d", i)})
			return err
		}},
		{"RemoveSnapshot", func(i int) error {
			_, err := a.RemoveSnapshot(ctx, SnapshotInput{Site: "uk", VM: "uk-db-1", Snapshot: fmt.Sprintf("s%d", i)})
			return err
		}},
		{"RelocateVM", func(i int) error {
			_, err := a.RelocateVM(ctx, RelocateVMInput{Site: "uk", Name: "uk-web-1", Host: hosts[(i+1)%2]})
			return err
		}},
		{"Enter+ExitMaintenance", func(int) error {
			_, err := a.EnterMaintenance(ctx, EnterMaintenanceInput{Site: "us", Host: l.vc["us"].Hosts()[0]})
			if err == nil {
				_, err = a.ExitMaintenance(ctx, ExitMaintenanceInput{Site: "us", Host: l.vc["us"].Hosts()[0]})
			}
			return err
		}},
		{"ReplicateVM (copy, running source)", func(i int) error {
			_, err := a.ReplicateVM(ctx, replicaInput("uk-web-2", fmt.Sprintf("uk-web-2-r%d", i), at.Add(time.Duration(i)*time.Hour)))
			return err
		}},
		{"ReplicateVM (clone, one vCenter)", func(i int) error {
			_, err := a2.ReplicateVM(ctx, ReplicateVMInput{Site: "uk", VM: "uk-web-2", TargetSite: "uk-dr",
				ReplicaName: fmt.Sprintf("uk-web-2-c%d", i), ReplicatedAt: at, Tags: replicaRole})
			return err
		}},
		{"ListReplicas", func(int) error {
			_, err := a.ListReplicas(ctx, ListReplicasInput{Site: "us", Of: "uk-web-2"})
			return err
		}},
		{"PruneReplicas (destroys 1 of n)", func(i int) error {
			_, err := a.PruneReplicas(ctx, PruneReplicasInput{Site: "us", Of: "uk-web-2", Keep: max(1, n-1-i)})
			return err
		}},
		{"DestroyVM (powered on)", func(i int) error {
			_, err := a.DestroyVM(ctx, DestroyVMInput{Site: "uk", Name: fmt.Sprintf("lat-%d", i)})
			return err
		}},
		{"FenceSite (nothing running)", func(int) error {
			_, err := a2.FenceSite(ctx, FenceSiteInput{Site: "uk-dr"})
			return err
		}},
	}
	// EnterMaintenance needs an empty host at us: move its VMs away first.
	for _, vm := range []string{"us-web-1", "us-web-2", "us-db-1"} {
		_, err := a.RelocateVM(ctx, RelocateVMInput{Site: "us", Name: vm, Host: l.vc["us"].Hosts()[1]})
		require.NoError(t, err)
	}
	for _, op := range ops {
		var took []time.Duration
		for i := range n {
			begin := time.Now()
			require.NoError(t, op.run(i), op.name)
			took = append(took, time.Since(begin))
		}
		slices.Sort(took)
		t.Logf("%-36s median %6.1f ms   max %6.1f ms", op.name, ms(took[n/2]), ms(took[n-1]))
		require.Less(t, took[n/2], 2*time.Second, op.name)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
