package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/microdc/mdc/workflows"
)

// runFlags are the flags every workflow-starting command shares.
type runFlags struct {
	follow bool
	asJSON bool
}

// startWorkflow starts name with input and then, with --follow, shows its
// steps until it ends. It returns an error (a non-zero exit) when the
// workflow fails.
func startWorkflow(ctx context.Context, c client.Client, out io.Writer, f runFlags, opts client.StartWorkflowOptions, name string, input any) error {
	run, err := c.ExecuteWorkflow(ctx, opts, name, input)
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	if !f.follow {
		if f.asJSON {
			return json.NewEncoder(out).Encode(map[string]string{"workflow_id": run.GetID(), "run_id": run.GetRunID()})
		}
		fmt.Fprintf(out, "started %s %s (run %s)\nfollow it with: mdc status %s --follow\n", name, run.GetID(), run.GetRunID(), run.GetID())
		return nil
	}
	return followRun(ctx, c, out, f, run.GetID(), run.GetRunID())
}

// followRun polls the progress query until the workflow closes, then prints
// the result. On a terminal the step list is redrawn in place; otherwise
// each change is a new line, which suits logs and scripts.
func followRun(ctx context.Context, c client.Client, out io.Writer, f runFlags, id, runID string) error {
	tty := isTerminal(out) && !f.asJSON
	var last []workflows.Step
	drawn := 0
	show := func(steps []workflows.Step) {
		switch {
		case f.asJSON:
			return
		case tty:
			if drawn > 0 {
				fmt.Fprintf(out, "\033[%dA", drawn)
			}
			for _, s := range steps {
				fmt.Fprintf(out, "\033[2K%s\n", stepLine(s))
			}
			drawn = len(steps)
		default:
			for i, s := range steps {
				if i >= len(last) || last[i].State != s.State {
					fmt.Fprintln(out, stepLine(s))
				}
			}
		}
		last = steps
	}
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		if p, err := queryProgress(ctx, c, id, runID); err == nil {
			show(p.Steps)
		}
		desc, err := c.DescribeWorkflowExecution(ctx, id, runID)
		if err != nil {
			return fmt.Errorf("describe %s: %w", id, err)
		}
		if desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped following %s (it keeps running; `mdc status %s --follow` resumes)", id, id)
		case <-tick.C:
		}
	}
	var result json.RawMessage
	runErr := c.GetWorkflow(ctx, id, runID).Get(ctx, &result)
	if f.asJSON {
		doc := map[string]any{"workflow_id": id, "run_id": runID, "result": result}
		if runErr != nil {
			doc["error"] = runErr.Error()
		}
		if err := json.NewEncoder(out).Encode(doc); err != nil {
			return err
		}
	} else if runErr == nil {
		fmt.Fprintf(out, "%s completed: %s\n", id, result)
	}
	if runErr != nil {
		return fmt.Errorf("%s failed: %w", id, unwrapWorkflowError(runErr))
	}
	return nil
}

func queryProgress(ctx context.Context, c client.Client, id, runID string) (workflows.Progress, error) {
	var p workflows.Progress
	v, err := c.QueryWorkflow(ctx, id, runID, workflows.ProgressQuery)
	if err != nil {
		return p, err
	}
	return p, v.Get(&p)
}

var stateMarks = map[string]string{
	workflows.StepPending: "  ", workflows.StepRunning: "..", workflows.StepDone: "ok",
	workflows.StepFailed: "!!", workflows.StepSkipped: "--",
}

func stepLine(s workflows.Step) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %-16s", stateMarks[s.State], s.Name)
	if s.Target != "" {
		fmt.Fprintf(&b, " %s", s.Target)
	}
	if s.Took > 0 {
		fmt.Fprintf(&b, " (%s)", s.Took.Round(time.Millisecond))
	}
	if s.Detail != "" {
		fmt.Fprintf(&b, ": %s", s.Detail)
	}
	return b.String()
}

// unwrapWorkflowError drops the SDK's wrapper layers so the operator sees
// the workflow's own reason first.
func unwrapWorkflowError(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
