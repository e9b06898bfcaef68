package platform

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTriggerRulesDefaultToTodaysBehaviour(t *testing.T) {
	p, err := Load("testdata/base.yaml")
	require.NoError(t, err)
	require.Empty(t, p.Triggers)
	require.Equal(t, TriggerRule{Event: "site.down", Action: ActionStart, Workflow: WorkflowFailoverSite}, p.TriggerRule("site.down"))
	require.Equal(t, TriggerRule{Event: "node.load", Action: ActionSignalWithStart, Workflow: WorkflowAutoscale}, p.TriggerRule("node.load"))
	for _, ev := range []string{"site.up", "node.health", "host.disconnected", "vm.powered_off"} {
		require.Equal(t, TriggerRule{Event: ev, Action: ActionRecord}, p.TriggerRule(ev))
	}
	target, err := p.FailoverTarget("us")
	require.NoError(t, err)
	require.Equal(t, "uk", target, "the primary")
	target, err = p.FailoverTarget("uk")
	require.NoError(t, err)
	require.Equal(t, "us", target, "the first other site when the primary failed")
}

func TestTriggerRulesFromTheFile(t *testing.T) {
	base := string(mustRead(t, "testdata/base.yaml"))
	p, err := Parse("t.yaml", []byte(base+`triggers:
  - event: site.down
    action: record
    targets: {us: uk}
  - event: node.load
  - event: vm.powered_off
    action: record
`))
	require.NoError(t, err)
	// action record turns automatic failover off; the workflow is not
	// implied for a recorded event but targets stay valid for re-enabling.
	require.Equal(t, TriggerRule{Event: "site.down", Action: ActionRecord, Targets: map[string]string{"us": "uk"}}, p.TriggerRule("site.down"))
	// A rule naming only the event gets the default action and workflow.
	require.Equal(t, TriggerRule{Event: "node.load", Action: ActionSignalWithStart, Workflow: WorkflowAutoscale}, p.TriggerRule("node.load"))
	require.Equal(t, ActionRecord, p.TriggerRule("site.up").Action, "types without a rule keep their default")

	out, err := Marshal(p)
	require.NoError(t, err)
	back, err := Parse("m.yaml", out)
	require.NoError(t, err)
	require.Equal(t, p, back)

	p, err = Parse("t.yaml", []byte(base+"triggers:\n  - {event: site.down, targets: {uk: us}}\n"))
	require.NoError(t, err)
	require.Equal(t, TriggerRule{Event: "site.down", Action: ActionStart, Workflow: WorkflowFailoverSite, Targets: map[string]string{"uk": "us"}}, p.Triggers[0])
	target, err := p.FailoverTarget("uk")
	require.NoError(t, err)
	require.Equal(t, "us", target)
}

func TestExampleDocumentsEveryTriggerField(t *testing.T) {
	p, err := Load("testdata/example.yaml")
	require.NoError(t, err)
	require.Len(t, p.Triggers, 3)
	require.Equal(t, map[string]string{"uk": "us", "us": "uk"}, p.TriggerRule("site.down").Targets)
	example := string(Example)
	for _, field := range yamlFieldNames(TriggerRule{}) {
		require.True(t, strings.Contains(example, "    "+field+":") || strings.Contains(example, "  - "+field+":"), "example.yaml documents triggers[].%s", field)
	}
	require.Equal(t, 60*time.Second, p.Failover.VoteLifetime(), "the example's comment says 60s")
}

func TestVoteLifetime(t *testing.T) {
	f := FailoverPolicy{DetectionInterval: Duration{time.Second}, Misses: 3}
	require.Equal(t, 12*time.Second, f.VoteLifetime(), "the lab's policy")
	f.Misses = 1
	require.Equal(t, 12*time.Second, f.VoteLifetime(), "never below 12 intervals: monitors re-publish every 5")
	f.Misses, f.DetectionInterval = 5, Duration{2 * time.Second}
	require.Equal(t, 40*time.Second, f.VoteLifetime())
}

// yamlFieldNames lists a struct's YAML keys in field order.
func yamlFieldNames(v any) []string {
	fields := yamlFields(reflect.TypeOf(v))
	names := make([]string, len(fields))
	for name, i := range fields {
		names[i] = name
	}
	return names
}
