package lb_test

import (
	"context"
	"fmt"
	"time"

	"github.com/microdc/mdc/activities/lb"
)

// Example shows how a worker builds the activities from the platform file's
// lb sections, and the order in which a scale-in uses them. Workflows call
// the same methods through a typed nil pointer:
//
//	var a *lb.Activities
//	err := workflow.ExecuteActivity(ctx, a.DrainServer, lb.DrainServerInput{...}).Get(ctx, &res)
//
// with a StartToClose longer than the drain deadline and a HeartbeatTimeout
// of a few seconds.
func Example() {
	a := lb.New(map[string]lb.Driver{
		"uk": lb.NewHAProxy(lb.HAProxyConfig{
			Site: "uk", RuntimeAPI: "127.1.0.1:9999", Backend: "be_web",
			ConfigDir: "/var/lib/mdc/lab/uk/haproxy/conf.d",
		}),
		"us": lb.NewNginx(lb.NginxConfig{
			Site: "us", Upstream: "be_web", ConfigDir: "/etc/nginx/mdc",
			ReloadCommand: []string{"systemctl", "reload", "nginx"},
			PidFile:       "/run/nginx.pid",
		}),
	})
	ctx := context.Background()
	// Scale in: no new sessions, wait for the current ones, then remove.
	if _, err := a.DrainServer(ctx, lb.DrainServerInput{Site: "uk", Name: "uk-web-3", Deadline: 2 * time.Minute}); err != nil {
		fmt.Println("drain:", err)
		return
	}
	res, err := a.RemoveServer(ctx, lb.RemoveServerInput{Site: "uk", Name: "uk-web-3"})
	fmt.Println(res.Changed, err)
}
