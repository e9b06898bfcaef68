// Package temporalops holds activities that read Temporal itself: a workflow
// cannot do I/O, so when it needs to know about other workflow runs (the
// anti-flapping check of FailoverSite asks "did this site fail over
// recently?") it asks through an activity that holds a Temporal client.
//
// Register it with every site's worker (New(client)); it changes nothing.
package temporalops

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/microdc/mdc/apperrors"
)

// DefaultLimit caps ListWorkflows when the input sets no limit.
const DefaultLimit = 100

// Activities reads workflow executions through a Temporal client.
type Activities struct {
	client client.Client
}

// New returns the activities over c (the worker's own client).
func New(c client.Client) *Activities { return &Activities{client: c} }

// ListWorkflowsInput is a visibility query, as `temporal workflow list
// --query` takes it, e.g. "WorkflowType = 'FailoverSite' AND MdcSite = 'uk'".
type ListWorkflowsInput struct {
	Query string
	// Limit caps the executions returned (DefaultLimit when 0).
	Limit int
}

// Execution is one workflow run as visibility reports it.
type Execution struct {
	WorkflowID string
	RunID      string
	Type       string
	// Status is Running, Completed, Failed, Canceled, Terminated,
	// ContinuedAsNew or TimedOut.
	Status    string
	StartTime time.Time
	// CloseTime is zero while the run is open.
	CloseTime time.Time `json:",omitempty"`
	// Attributes are the run's custom search attributes, keywords as they
	// are and numbers formatted ("12.5"), by attribute name.
	Attributes map[string]string `json:",omitempty"`
}

// ListWorkflowsResult lists the matching runs, most recent start first.
type ListWorkflowsResult struct {
	Executions []Execution
	// Truncated is true when more runs matched than Limit.
	Truncated bool
}

// ListWorkflows runs a visibility query. A query Temporal cannot parse is
// BadInput; a server that does not answer is Unavailable.
func (a *Activities) ListWorkflows(ctx context.Context, in ListWorkflowsInput) (ListWorkflowsResult, error) {
	if in.Query == "" {
		return ListWorkflowsResult{}, apperrors.BadInput("ListWorkflows: empty query: give a visibility query such as \"WorkflowType = 'FailoverSite'\"")
	}
	limit := in.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	var res ListWorkflowsResult
	var token []byte
	for {
		resp, err := a.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: in.Query, PageSize: int32(min(limit, 1000)), NextPageToken: token,
		})
		if err != nil {
			var invalid *serviceerror.InvalidArgument
			if errors.As(err, &invalid) {
				return ListWorkflowsResult{}, apperrors.BadInput("ListWorkflows: Temporal refused the query %q: %s", in.Query, invalid.Message)
			}
			return ListWorkflowsResult{}, apperrors.Unavailable(err, "ListWorkflows %q: Temporal visibility did not answer: %v", in.Query, err)
		}
		for _, e := range resp.Executions {
			if len(res.Executions) == limit {
				res.Truncated = true
				break
			}
			x := Execution{
				WorkflowID: e.GetExecution().GetWorkflowId(), RunID: e.GetExecution().GetRunId(),
				Type: e.GetType().GetName(), Status: statusName(e.GetStatus().String()),
				StartTime: e.GetStartTime().AsTime(),
			}
			if e.GetCloseTime() != nil {
				x.CloseTime = e.GetCloseTime().AsTime()
			}
			for name, p := range e.GetSearchAttributes().GetIndexedFields() {
				var v any
				if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil {
					continue
				}
				if s, ok := attrString(v); ok {
					if x.Attributes == nil {
						x.Attributes = map[string]string{}
					}
					x.Attributes[name] = s
				}
			}
			res.Executions = append(res.Executions, x)
		}
		token = resp.NextPageToken
		if res.Truncated || len(token) == 0 {
			break
		}
	}
	sort.SliceStable(res.Executions, func(i, j int) bool {
		return res.Executions[i].StartTime.After(res.Executions[j].StartTime)
	})
	return res, nil
}

// statusName turns WORKFLOW_EXECUTION_STATUS_RUNNING into Running, the
// spelling visibility queries use (ExecutionStatus = 'Running').
func statusName(s string) string {
	switch s {
	case "Running", "Completed", "Failed", "Canceled", "Terminated", "ContinuedAsNew", "TimedOut":
		return s
	}
	names := map[string]string{
		"WORKFLOW_EXECUTION_STATUS_RUNNING": "Running", "WORKFLOW_EXECUTION_STATUS_COMPLETED": "Completed",
		"WORKFLOW_EXECUTION_STATUS_FAILED": "Failed", "WORKFLOW_EXECUTION_STATUS_CANCELED": "Canceled",
		"WORKFLOW_EXECUTION_STATUS_TERMINATED": "Terminated", "WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW": "ContinuedAsNew",
		"WORKFLOW_EXECUTION_STATUS_TIMED_OUT": "TimedOut",
	}
	if n, ok := names[s]; ok {
		return n
	}
	return s
}

func attrString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	case []any:
		if len(x) == 1 {
			return attrString(x[0])
		}
	}
	return "", false
}
