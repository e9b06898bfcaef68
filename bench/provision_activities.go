package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/workflows"
)

// provisionByActivities makes, for each VM, the activity calls ProvisionSite
// makes (CloneVM within the same clone bound, PowerOn, WaitForIP, CheckHTTP
// once a second until healthy, AddServer), calling the activity methods in
// this process: the same govmomi, HTTP and HAProxy calls, without Temporal.
func provisionByActivities(ctx context.Context, s *stack, svc workflows.ProvisionService, names []string, parallel int) error {
	slots := make(chan struct{}, parallel)
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		host := svc.Hosts[i%len(svc.Hosts)]
		wg.Go(func() { errs[i] = bringUpByActivities(ctx, s, svc, name, host, slots) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func bringUpByActivities(ctx context.Context, s *stack, svc workflows.ProvisionService, name, host string, slots chan struct{}) error {
	site, d := "us", s.deps
	slots <- struct{}{}
	_, err := d.VSphere.CloneVM(ctx, vsphere.CloneVMInput{
		Site: site, Source: svc.Template, Snapshot: svc.Snapshot, Name: name, Host: host,
		Datastore: svc.Datastore, Folder: svc.Folder, Tags: svc.Tags,
	})
	<-slots
	if err != nil {
		return fmt.Errorf("clone %s: %w", name, err)
	}
	if _, err := d.VSphere.PowerOn(ctx, vsphere.PowerInput{Site: site, Name: name}); err != nil {
		return fmt.Errorf("power on %s: %w", name, err)
	}
	ip, err := d.VSphere.WaitForIP(ctx, vsphere.WaitForIPInput{Site: site, Name: name, Deadline: time.Now().Add(2 * time.Minute)})
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(ip.IP, strconv.Itoa(svc.Port))
	if err := poll(ctx, 2*time.Minute, time.Second, func() bool {
		r, err := d.Health.CheckHTTP(ctx, health.CheckHTTPInput{URL: "http://" + addr + svc.HealthPath, Timeout: 2 * time.Second})
		return err == nil && r.Healthy
	}); err != nil {
		return fmt.Errorf("health of %s: %w", name, err)
	}
	_, err = d.LB.AddServer(ctx, lb.AddServerInput{Site: site, Name: name, Addr: addr})
	return err
}
