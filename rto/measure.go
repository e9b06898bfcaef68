package rto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.temporal.io/sdk/client"

	"github.com/microdc/mdc/events"
	"github.com/microdc/mdc/workflows"
)

// Measure waits for the FailoverSite run workflowID (its latest run) to
// finish and returns its breakdown, reading the site.down events of its
// site from JetStream. quorum is the platform's failover.observer_quorum.
func Measure(ctx context.Context, c client.Client, js jetstream.JetStream, workflowID string, quorum int) (Breakdown, workflows.FailoverSiteResult, error) {
	var res workflows.FailoverSiteResult
	if err := c.GetWorkflow(ctx, workflowID, "").Get(ctx, &res); err != nil {
		return Breakdown{}, res, fmt.Errorf("rto: result of %s: %w", workflowID, err)
	}
	d, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return Breakdown{}, res, fmt.Errorf("rto: describe %s: %w", workflowID, err)
	}
	started := d.GetWorkflowExecutionInfo().GetStartTime().AsTime()
	downs, err := SiteDownEvents(ctx, js, res.FailedSite)
	if err != nil {
		return Breakdown{}, res, err
	}
	b, err := FromRecords(res, workflowID, started, downs, quorum)
	return b, res, err
}

// SiteDownEvents reads every site.down event about site that MDC_EVENTS
// holds, oldest first.
func SiteDownEvents(ctx context.Context, js jetstream.JetStream, site string) ([]events.Event, error) {
	subject := events.Subject(events.TypeSiteDown, site)
	cons, err := js.OrderedConsumer(ctx, events.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		return nil, fmt.Errorf("rto: read %s from %s: %w", subject, events.Stream, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("rto: read %s from %s: %w", subject, events.Stream, err)
	}
	var out []events.Event
	for left := info.NumPending; left > 0; {
		batch, err := cons.Fetch(int(min(left, 256)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, fmt.Errorf("rto: fetch %s: %w", subject, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			ev, err := events.Decode(m.Data())
			if err != nil {
				continue // the trigger dead-letters these; they are no votes
			}
			out = append(out, ev)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("rto: fetch %s: %w", subject, err)
		}
		if n == 0 {
			break
		}
		left -= uint64(n)
	}
	return out, nil
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
