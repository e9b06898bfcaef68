package cli

import (
	"fmt"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/microdc/mdc/config"
	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/workflows"
)

// workflowCmd is a command that builds a workflow input from the platform
// file and starts it; every maintenance command shares its flags.
type workflowCmd struct {
	cfg   *config.Config
	flags runFlags
}

func (w *workflowCmd) bind(cmd *cobra.Command) *cobra.Command {
	cmd.Flags().BoolVar(&w.flags.follow, "follow", false, "show the steps until the workflow ends; exit non-zero if it fails")
	cmd.Flags().BoolVar(&w.flags.asJSON, "json", false, "print JSON")
	return cmd
}

// start loads the platform file, builds the input and starts the workflow.
func (w *workflowCmd) start(cmd *cobra.Command, build func(p *platform.Platform) (client.StartWorkflowOptions, string, any, error)) error {
	p, err := platform.Load(w.cfg.PlatformFile)
	if err != nil {
		return err
	}
	opts, name, in, err := build(p)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if opts.TaskQueue == "" {
		opts.TaskQueue = w.cfg.TaskQueue
	}
	c, err := dialTemporal(cmd, w.cfg, quietLogger{})
	if err != nil {
		return err
	}
	defer c.Close()
	return startWorkflow(cmd.Context(), c, cmd.OutOrStdout(), w.flags, opts, name, in)
}

func requester() string {
	if u, err := user.Current(); err == nil {
		return u.Username + "@cli"
	}
	return "cli"
}

func newFailoverCmd(cfg *config.Config, drill bool) *cobra.Command {
	w := &workflowCmd{cfg: cfg}
	var target, mode, reason string
	var force, dryRun bool
	use, short := "failover SITE", "Fail a site over to another (FailoverSite)"
	if drill {
		use, short = "drill SITE", "Rehearse a failover of SITE: isolated replicas, verified, cleaned up; production untouched"
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		Long: short + `.

disaster mode confirms the site is down with the policy's observer quorum,
fences it, promotes the target's database (refusing beyond the policy's RPO
unless --force), brings up capacity, switches the LB and DNS and verifies end
to end. planned mode loses no data. Where the policy asks for approval the
workflow waits for ` + "`mdc approve`" + ` or ` + "`mdc reject`" + `. --dry-run prints the plan.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return w.start(cmd, func(p *platform.Platform) (client.StartWorkflowOptions, string, any, error) {
				m := mode
				if drill {
					m = "test"
				}
				t := target
				if t == "" {
					t = otherSite(p, args[0])
				}
				in, err := workflows.NewFailoverSiteInput(p, args[0], t, m)
				if err != nil {
					return client.StartWorkflowOptions{}, "", nil, err
				}
				in.Reason, in.RequestedBy, in.Force, in.DryRun = reason, requester(), force, dryRun
				return workflows.FailoverStartOptions(in), workflows.FailoverSiteName, in, nil
			})
		},
	}
	cmd.Flags().StringVar(&target, "target", "", "site to fail over to (default: the other site)")
	if !drill {
		cmd.Flags().StringVar(&mode, "mode", "planned", "disaster or planned")
		cmd.Flags().BoolVar(&force, "force", false, "override the anti-flapping block, a reachable site and the RPO bound")
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "return the plan without changing anything")
	return w.bind(cmd)
}

// otherSite is the first site that is not failed: the default target of a
// two-site platform.
func otherSite(p *platform.Platform, failed string) string {
	for _, s := range p.SiteNames() {
		if s != failed {
			return s
		}
	}
	return ""
}

func newFailbackCmd(cfg *config.Config) *cobra.Command {
	w := &workflowCmd{cfg: cfg}
	var current string
	var switchBack bool
	cmd := &cobra.Command{
		Use: "failback SITE", Args: cobra.ExactArgs(1),
		Short: "Reprotect a returned site and, with --switch-back, fail back to it (Failback)",
		Long: `failback resyncs the returned site's database as a replica of the current primary,
re-replicates its protected VMs, repairs its DNS servers and, with --switch-back,
runs a planned FailoverSite back to it.

After --switch-back the site you left is fenced as any planned failover leaves it:
its web VMs are powered off and its database is read-only and not replicating.
Restore protection with ` + "`mdc provision <that site>`" + ` (its VMs, LB servers and DNS,
and its database as a replica of SITE), then ` + "`mdc provision SITE`" + ` so each site's
region is answered by its own site again.`,
		Example: `  mdc failback uk                 # reprotect uk; us stays primary
  mdc failback uk --switch-back --follow
  mdc provision us && mdc provision uk   # after --switch-back: both sites protected again`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return w.start(cmd, func(p *platform.Platform) (client.StartWorkflowOptions, string, any, error) {
				cur := current
				if cur == "" {
					cur = otherSite(p, args[0])
				}
				in, err := workflows.NewFailbackInput(p, args[0], cur, switchBack)
				return client.StartWorkflowOptions{ID: "failback-" + args[0]}, workflows.FailbackName, in, err
			})
		},
	}
	cmd.Flags().StringVar(&current, "current-primary", "", "site that is primary now (default: the other site)")
	cmd.Flags().BoolVar(&switchBack, "switch-back", false, "finish with a planned failover back to SITE")
	return w.bind(cmd)
}

func newProvisionCmd(cfg *config.Config) *cobra.Command {
	w := &workflowCmd{cfg: cfg}
	return w.bind(&cobra.Command{
		Use: "provision SITE", Args: cobra.ExactArgs(1),
		Short: "Create a site's missing VMs, LB servers, DNS and replication (ProvisionSite)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return w.start(cmd, func(p *platform.Platform) (client.StartWorkflowOptions, string, any, error) {
				in, err := workflows.NewProvisionSiteInput(p, args[0])
				return client.StartWorkflowOptions{ID: "provision-" + args[0]}, workflows.ProvisionSiteName, in, err
			})
		},
	})
}

func newReplicateCmd(cfg *config.Config) *cobra.Command {
	w := &workflowCmd{cfg: cfg}
	var site string
	cmd := &cobra.Command{
		Use: "replicate VM", Args: cobra.ExactArgs(1),
		Short: "Copy a protected VM to its target site now (ReplicateVM)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return w.start(cmd, func(p *platform.Platform) (client.StartWorkflowOptions, string, any, error) {
				in, err := workflows.NewReplicateVMInput(p, site, args[0])
				id := fmt.Sprintf("replicate-%s-%s-%s", site, args[0], time.Now().UTC().Format("20060102T150405"))
				return client.StartWorkflowOptions{ID: id}, workflows.ReplicateVMName, in, err
			})
		},
	}
	cmd.Flags().StringVar(&site, "site", "", "site the VM lives at (required)")
	_ = cmd.MarkFlagRequired("site")
	return w.bind(cmd)
}

func newDrainHostCmd(cfg *config.Config, undrain bool) *cobra.Command {
	w := &workflowCmd{cfg: cfg}
	var site string
	var deadline time.Duration
	use, short, name := "drain-host HOST", "Drain a host's nodes from the LB, move its VMs away, enter maintenance (DrainHost)", workflows.DrainHostName
	if undrain {
		use, short, name = "undrain-host HOST", "Exit maintenance and put the host's drained nodes back in the LB (UndrainHost)", workflows.UndrainHostName
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return w.start(cmd, func(p *platform.Platform) (client.StartWorkflowOptions, string, any, error) {
				in, err := workflows.NewDrainHostInput(p, site, args[0], deadline)
				id := strings.ToLower(name) + "-" + site + "-" + args[0]
				return client.StartWorkflowOptions{ID: id}, name, in, err
			})
		},
	}
	cmd.Flags().StringVar(&site, "site", "", "site the host belongs to (required)")
	_ = cmd.MarkFlagRequired("site")
	if !undrain {
		cmd.Flags().DurationVar(&deadline, "deadline", time.Minute, "how long to wait for sessions to drain")
	}
	return w.bind(cmd)
}

func newApproveCmd(cfg *config.Config, reject bool) *cobra.Command {
	var by, comment string
	use, short, update := "approve SITE", "Approve the failover of SITE waiting at its approval gate", workflows.ApproveName
	if reject {
		use, short, update = "reject SITE", "Reject the failover of SITE waiting at its approval gate", workflows.RejectName
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := dialTemporal(cmd, cfg, quietLogger{})
			if err != nil {
				return err
			}
			defer c.Close()
			id := "failover-" + args[0]
			if by == "" {
				by = requester()
			}
			h, err := c.UpdateWorkflow(cmd.Context(), client.UpdateWorkflowOptions{
				WorkflowID: id, UpdateName: update, Args: []any{workflows.Approval{By: by, Comment: comment}},
				WaitForStage: client.WorkflowUpdateStageCompleted,
			})
			if err == nil {
				err = h.Get(cmd.Context(), nil)
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", update, id, unwrapWorkflowError(err))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %sd by %s\n", id, update, by)
			return nil
		},
	}
	cmd.Flags().StringVar(&by, "by", "", "approver's name (default: your user name)")
	cmd.Flags().StringVar(&comment, "comment", "", "note for the record")
	return cmd
}
