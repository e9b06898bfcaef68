package snmp_test

import (
	"context"
	"fmt"
	"time"

	"github.com/microdc/mdc/activities/snmp"
	"github.com/microdc/mdc/snmpagent"
)

// The Autoscale workflow calls PollLoad for a service's nodes and decides
// from the samples; agents that fail are reported one by one, not as an
// error. Here one node runs an agent and the other has none.
func ExampleActivities_PollLoad() {
	agent, err := snmpagent.Listen("127.37.40.1:1161", "public")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer agent.Close()
	agent.SetLoad(2.5, 1.25, 0.5)

	acts, err := snmp.New(nil, map[string]snmp.SiteConfig{
		"uk": {Port: 1161, Community: "public", Timeout: 500 * time.Millisecond},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := acts.PollLoad(context.Background(), snmp.PollLoadInput{
		Site:  "uk",
		Nodes: []snmp.NodeAddr{{Name: "web1", IP: "127.37.40.1"}, {Name: "web2", IP: "127.37.40.2"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range res.Samples {
		if s.OK() {
			fmt.Printf("%s load %.2f %.2f %.2f\n", s.Node, s.Load1, s.Load5, s.Load15)
		} else {
			fmt.Printf("%s %s\n", s.Node, s.ErrKind)
		}
	}
	fmt.Println("answered:", res.Answered)
	// Output:
	// web1 load 2.50 1.25 0.50
	// web2 refused
	// answered: 1
}
