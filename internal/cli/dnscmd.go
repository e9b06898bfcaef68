package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/microdc/mdc/config"
	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/workflows"
)

func newDNSCutoverCmd(cfg *config.Config) *cobra.Command {
	var f runFlags
	var service, mode string
	cmd := &cobra.Command{
		Use:   "dns-cutover TARGET_SITE",
		Short: "Send every region's clients of a service to one site (DNSCutover)",
		Long: `dns-cutover starts the DNSCutover workflow: every region's answer for the
service's record becomes TARGET_SITE's load balancer, on every site's DNS servers.
Planned mode lowers the TTL, waits one old TTL, switches, verifies on every
server and restores the TTL; disaster mode switches at once and verifies on
every reachable server.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := platform.Load(cfg.PlatformFile)
			if err != nil {
				return err
			}
			if mode != workflows.ModePlanned && mode != workflows.ModeDisaster {
				return &exitError{code: 2, err: fmt.Errorf("--mode %q: expected planned or disaster", mode)}
			}
			in, err := workflows.NewDNSCutoverInput(p, service, args[0], mode)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			c, err := dialTemporal(cmd, cfg, quietLogger{})
			if err != nil {
				return err
			}
			defer c.Close()
			// One cutover of a record at a time: a second start while one
			// runs is refused by the fixed ID.
			opts := client.StartWorkflowOptions{ID: "dns-cutover-" + in.Name, TaskQueue: cfg.TaskQueue}
			return startWorkflow(cmd.Context(), c, cmd.OutOrStdout(), f, opts, workflows.DNSCutoverName, in)
		},
	}
	cmd.Flags().StringVar(&service, "service", "web", "service whose DNS record moves")
	cmd.Flags().StringVar(&mode, "mode", workflows.ModePlanned, "planned or disaster")
	cmd.Flags().BoolVar(&f.follow, "follow", false, "show the steps until the workflow ends; exit non-zero if it fails")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print JSON")
	return cmd
}
