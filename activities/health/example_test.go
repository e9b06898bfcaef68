package health_test

import (
	"context"
	"fmt"

	"github.com/microdc/mdc/activities/health"
)

// FailoverSite asks observers whether a site is lost; an observer's vote is
// ProbeSite's Reachable. Here nothing listens at the site's addresses.
func ExampleActivities_ProbeSite() {
	acts, err := health.New(map[string]health.SiteProbeConfig{
		"us": {
			LBFrontend:   "127.39.0.2:8080",
			LBRuntimeAPI: "127.39.0.1:9999",
			DNSServers:   []string{"127.39.0.1:5300"},
			Record:       "www.example.test",
			DBAddress:    "127.39.0.1:3306",
		},
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := acts.ProbeSite(context.Background(), health.ProbeSiteInput{Site: "us"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("reachable:", res.Reachable, "healthy:", res.Healthy)
	for _, c := range res.Components {
		fmt.Println(c.Kind, c.Error)
	}
	// Output:
	// reachable: false healthy: false
	// lb-frontend GET http://127.39.0.2:8080/: connect: connection refused
	// lb-runtime-api TCP connect to 127.39.0.1:9999: connect: connection refused
	// dns DNS query for www.example.test. A at 127.39.0.1:5300: read: connection refused
	// db TCP connect to 127.39.0.1:3306: connect: connection refused
}
