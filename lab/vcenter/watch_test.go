package vcenter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
)

// watchVC runs Watch for the rest of the test and returns its reports.
func watchVC(t *testing.T, v *VCenter) <-chan VMState {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	states := make(chan VMState, 1000)
	done := make(chan error, 1)
	go func() { done <- v.Watch(ctx, func(s VMState) { states <- s }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err, "Watch must return nil when its context ends")
		case <-time.After(10 * time.Second):
			t.Error("Watch did not return after its context ended")
		}
	})
	return states
}

// next waits for the first report about vm that satisfies ok.
func next(t *testing.T, states <-chan VMState, vm string, ok func(VMState) bool) VMState {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case s := <-states:
			if s.Name == vm && ok(s) {
				return s
			}
		case <-deadline:
			t.Fatalf("no matching report about %s", vm)
		}
	}
}

// awaitAll waits until every VM named in want had a report satisfying its
// condition, in any order.
func awaitAll(t *testing.T, states <-chan VMState, want map[string]func(VMState) bool) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for len(want) > 0 {
		select {
		case s := <-states:
			if ok := want[s.Name]; ok != nil && ok(s) {
				delete(want, s.Name)
			}
		case <-deadline:
			t.Fatalf("no matching report about %d VMs", len(want))
		}
	}
}

func poweredOn(s VMState) bool  { return s.PoweredOn && !s.Deleted }
func poweredOff(s VMState) bool { return !s.PoweredOn && !s.Deleted }

func TestWatchReportsStatesAndChanges(t *testing.T) {
	integration(t)
	v := startVC(t, testOptions("uk", ukAddr, ""))
	states := watchVC(t, v)

	// Every VM's current state first, then the end-of-listing marker.
	initial := map[string]VMState{}
	for {
		select {
		case s := <-states:
			if s.Name != "" {
				initial[s.Name] = s
				continue
			}
			require.Equal(t, VMState{}, s)
		case <-time.After(15 * time.Second):
			t.Fatalf("initial states: got only %v and no end marker", initial)
		}
		break
	}
	require.Len(t, initial, 4)
	web1 := initial["uk-web-1"]
	require.True(t, web1.PoweredOn)
	require.NotEmpty(t, web1.Ref)
	require.Equal(t, map[string]string{TagRole: "web", TagService: "web", TagSite: "uk"}, web1.Tags)
	require.Contains(t, v.Hosts(), web1.Host)
	require.NotEqual(t, web1.Host, initial["uk-web-2"].Host)
	require.True(t, initial["web-template"].Template)
	require.False(t, initial["web-template"].PoweredOn)
	require.Equal(t, "db", initial["uk-db-1"].Tags[TagRole])

	c := login(t, v)
	vm := findVM(t, c, v, "uk-web-1")
	runTask(t, vm.PowerOff)
	next(t, states, "uk-web-1", poweredOff)
	runTask(t, vm.PowerOn)
	next(t, states, "uk-web-1", poweredOn)

	clone := cloneWeb(t, c, v, "uk-web-3", v.Hosts()[1])
	s := next(t, states, "uk-web-3", poweredOff)
	require.Equal(t, "web", s.Tags[TagRole])
	require.Equal(t, v.Hosts()[1], s.Host)
	runTask(t, clone.PowerOn)
	next(t, states, "uk-web-3", poweredOn)

	// A tag change is reported too.
	runTask(t, func(ctx context.Context) (*object.Task, error) {
		return clone.Reconfigure(ctx, extraConfigSpec(TagRole, "canary"))
	})
	next(t, states, "uk-web-3", func(s VMState) bool { return s.Tags[TagRole] == "canary" })

	runTask(t, clone.PowerOff)
	runTask(t, clone.Destroy)
	gone := next(t, states, "uk-web-3", func(s VMState) bool { return s.Deleted })
	require.Equal(t, s.Ref, gone.Ref)
}

func TestWatchSurvivesStopAndRevive(t *testing.T) {
	integration(t)
	v := startVC(t, testOptions("uk", ukAddr, ""))
	states := watchVC(t, v)
	next(t, states, "uk-web-2", poweredOn)

	v.Stop()
	require.NoError(t, v.Revive(testCtx(t)))
	c := login(t, v)
	runTask(t, findVM(t, c, v, "uk-web-2").PowerOff)
	next(t, states, "uk-web-2", poweredOff)

	// Changes made while the site is down (through the in-process client,
	// as no API client can reach it) are reported once Watch reconnects.
	v.Stop()
	ctx := testCtx(t)
	web1, err := find.NewFinder(v.inproc, false).VirtualMachine(ctx, v.Folder()+"/uk-web-1")
	require.NoError(t, err)
	runTask(t, web1.PowerOff)
	runTask(t, web1.Destroy)
	db, err := find.NewFinder(v.inproc, false).VirtualMachine(ctx, v.Folder()+"/uk-db-1")
	require.NoError(t, err)
	runTask(t, db.PowerOff)
	require.NoError(t, v.Revive(ctx))
	awaitAll(t, states, map[string]func(VMState) bool{
		"uk-web-1": func(s VMState) bool { return s.Deleted },
		"uk-db-1":  poweredOff,
	})
}

func TestWatchEndsWhenTheVCenterCloses(t *testing.T) {
	integration(t)
	v, err := Start(testCtx(t), testOptions("uk", ukAddr, ""))
	require.NoError(t, err)
	done := make(chan error, 1)
	started := make(chan struct{}, 1)
	go func() {
		done <- v.Watch(context.Background(), func(VMState) {
			select {
			case started <- struct{}{}:
			default:
			}
		})
	}()
	<-started
	v.Close()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after Close")
	}
}
