package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/microdc/mdc/config"
	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/workflows"
)

func newScaleCmd(cfg *config.Config) *cobra.Command {
	var service, reason string
	var replicas int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "scale SITE",
		Short: "Show or set a service's replicas at a site (the Autoscale workflow)",
		Long: `scale shows the Autoscale workflow of a service at a site: its nodes, their load,
the stabilisation windows and cooldowns. With --replicas it asks Autoscale to
reach that many copies now (within the policy's min and max), starting Autoscale
first if it is not running. Autoscale then keeps applying the load rule.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			site := args[0]
			p, err := platform.Load(cfg.PlatformFile)
			if err != nil {
				return err
			}
			in, err := workflows.NewAutoscaleInput(p, site, service)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			c, err := dialTemporal(cmd, cfg, quietLogger{})
			if err != nil {
				return err
			}
			defer c.Close()
			id := workflows.AutoscaleWorkflowID(service, site)
			out := cmd.OutOrStdout()
			if replicas < 0 {
				v, err := c.QueryWorkflow(cmd.Context(), id, "", workflows.StateQuery)
				if err != nil {
					return fmt.Errorf("autoscale %s: %w (start it with `mdc scale %s --replicas N`, or let the trigger start it)", id, err, site)
				}
				var st workflows.AutoscaleStatus
				if err := v.Get(&st); err != nil {
					return err
				}
				return printAutoscale(out, st, asJSON)
			}
			// Update-with-start: one request that starts Autoscale if it is
			// not running and applies the change either way.
			start := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
				ID: id, TaskQueue: cfg.TaskQueue, WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			}, workflows.AutoscaleName, in)
			h, err := c.UpdateWithStartWorkflow(cmd.Context(), client.UpdateWithStartWorkflowOptions{
				StartWorkflowOperation: start,
				UpdateOptions: client.UpdateWorkflowOptions{
					UpdateName: workflows.ScaleUpdate, Args: []any{workflows.ScaleRequest{Replicas: replicas, Reason: reason}},
					WaitForStage: client.WorkflowUpdateStageCompleted,
				},
			})
			if err != nil {
				return fmt.Errorf("scale %s at %s to %d: %w", service, site, replicas, unwrapWorkflowError(err))
			}
			var res workflows.ScaleResult
			if err := h.Get(cmd.Context(), &res); err != nil {
				return fmt.Errorf("scale %s at %s to %d: %w", service, site, replicas, unwrapWorkflowError(err))
			}
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			fmt.Fprintf(out, "%s at %s: %d -> %d replicas", service, site, res.Before, res.After)
			if len(res.Added) > 0 {
				fmt.Fprintf(out, ", added %v", res.Added)
			}
			if len(res.Removed) > 0 {
				fmt.Fprintf(out, ", removed %v", res.Removed)
			}
			fmt.Fprintln(out)
			return nil
		},
	}
	cmd.Flags().StringVar(&service, "service", "web", "service to scale")
	cmd.Flags().IntVar(&replicas, "replicas", -1, "copies wanted at the site (within the policy's min and max)")
	cmd.Flags().StringVar(&reason, "reason", "manual scale from the CLI", "why, for the record")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printAutoscale(out io.Writer, st workflows.AutoscaleStatus, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(out).Encode(st)
	}
	fmt.Fprintf(out, "%s at %s: %d replicas (%d base, %d extra), min %d max %d\n", st.Service, st.Site, st.Replicas, st.Base, st.Extra, st.Policy.Min, st.Policy.Max)
	fmt.Fprintf(out, "cooldown left: out %s, in %s\n", st.OutCooldownLeft.Round(time.Second), st.InCooldownLeft.Round(time.Second))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tEXTRA\tLOAD\tBAND\tIN BAND FOR\tWINDOW LEFT")
	for _, n := range st.Nodes {
		fmt.Fprintf(tw, "%s\t%v\t%.2f\t%s\t%s\t%s\n", n.Name, n.Extra, n.Load, n.Band, n.InBandFor.Round(time.Second), n.WindowLeft.Round(time.Second))
	}
	return tw.Flush()
}
