package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/microdc/mdc/config"
)

// dialTemporal connects with the process configuration. One-shot commands
// pass quietLogger{} to keep the SDK's chatter off the terminal; long-running
// ones (worker, trigger) pass their structured logger.
func dialTemporal(cmd *cobra.Command, cfg *config.Config, logger log.Logger) (client.Client, error) {
	opts, err := cfg.TemporalClientOptions()
	if err != nil {
		return nil, err
	}
	opts.Logger = logger
	c, err := client.DialContext(cmd.Context(), opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (set MDC_TEMPORAL_ADDRESS, or start `mdc dev`): %w", cfg.TemporalAddress, err)
	}
	return c, nil
}

func newStatusCmd(cfg *config.Config) *cobra.Command {
	var f runFlags
	var limit int
	cmd := &cobra.Command{
		Use:   "status [WORKFLOW_ID]",
		Short: "List recent mdc workflows, or show one workflow's steps",
		Long: `status without an argument lists the most recent workflows with their state.
With a workflow ID it shows that workflow's steps (its progress query); --follow
keeps showing them until it ends and exits non-zero if it failed.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := dialTemporal(cmd, cfg, quietLogger{})
			if err != nil {
				return err
			}
			defer c.Close()
			out := cmd.OutOrStdout()
			if len(args) == 1 {
				if f.follow {
					return followRun(cmd.Context(), c, out, f, args[0], "")
				}
				desc, err := c.DescribeWorkflowExecution(cmd.Context(), args[0], "")
				if err != nil {
					return fmt.Errorf("workflow %s: %w", args[0], err)
				}
				info := desc.GetWorkflowExecutionInfo()
				p, qerr := queryProgress(cmd.Context(), c, args[0], "")
				if f.asJSON {
					doc := map[string]any{"workflow_id": args[0], "type": info.GetType().GetName(), "status": info.GetStatus().String(), "steps": p.Steps}
					if qerr != nil {
						doc["progress_error"] = qerr.Error()
					}
					return json.NewEncoder(out).Encode(doc)
				}
				fmt.Fprintf(out, "%s %s: %s (started %s)\n", info.GetType().GetName(), args[0], info.GetStatus(), info.GetStartTime().AsTime().Format(time.RFC3339))
				for _, s := range p.Steps {
					fmt.Fprintln(out, stepLine(s))
				}
				return nil
			}
			resp, err := c.ListWorkflow(cmd.Context(), &workflowservice.ListWorkflowExecutionsRequest{Namespace: cfg.TemporalNamespace, PageSize: int32(limit)})
			if err != nil {
				return fmt.Errorf("list workflows: %w", err)
			}
			if f.asJSON {
				var rows []map[string]string
				for _, e := range resp.GetExecutions() {
					rows = append(rows, map[string]string{"workflow_id": e.GetExecution().GetWorkflowId(), "type": e.GetType().GetName(), "status": e.GetStatus().String(), "start": e.GetStartTime().AsTime().Format(time.RFC3339)})
				}
				return json.NewEncoder(out).Encode(rows)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKFLOW ID\tTYPE\tSTATUS\tSTARTED")
			for _, e := range resp.GetExecutions() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.GetExecution().GetWorkflowId(), e.GetType().GetName(), e.GetStatus(), e.GetStartTime().AsTime().Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&f.follow, "follow", false, "show the steps until the workflow ends; exit non-zero if it fails")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 20, "how many workflows to list")
	return cmd
}

// quietLogger keeps the SDK's connection chatter off an operator's terminal.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
