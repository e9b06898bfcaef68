// Package cli is the mdc command line: one cobra binary with a subcommand
// per job (dev, worker, lab, validate, config, ...).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/microdc/mdc/config"
)

// Version is set at build time with -ldflags "-X ...cli.Version=...".
var Version = "dev"

// exitError carries a specific exit code (validation failures exit 1,
// usage errors 2).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// Execute runs the mdc command line and returns the process exit code.
func Execute(ctx context.Context, cfg *config.Config, args []string, stdout, stderr io.Writer) int {
	root := newRoot(cfg, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "mdc: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func newRoot(cfg *config.Config, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "mdc",
		Short: "mdc automates a multi-site micro data centre with durable Temporal workflows",
		Long: `mdc provisions sites, replicates VMs, scales services, fails whole sites over and
moves DNS: each operation a Temporal workflow of idempotent activities against
vSphere, HAProxy, PowerDNS and MariaDB.

Start everything on one machine with ` + "`mdc dev`" + ` (or ` + "`make dev`" + `): an in-process Temporal
server with its Web UI, NATS with JetStream, and a two-site lab.

Process settings come from MDC_* environment variables (see ` + "`mdc config`" + `);
what mdc manages comes from the platform file (see ` + "`mdc validate`" + `).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newDevCmd(cfg),
		newConfigCmd(cfg),
		newValidateCmd(cfg),
		newLabCmd(cfg),
		newWorkerCmd(cfg),
		newStatusCmd(cfg),
		newDNSCutoverCmd(cfg),
		newScaleCmd(cfg),
		newTriggerCmd(cfg),
		newMonitorCmd(cfg),
		newFailoverCmd(cfg, false),
		newFailoverCmd(cfg, true),
		newFailbackCmd(cfg),
		newProvisionCmd(cfg),
		newReplicateCmd(cfg),
		newDrainHostCmd(cfg, false),
		newDrainHostCmd(cfg, true),
		newApproveCmd(cfg, false),
		newApproveCmd(cfg, true),
	)
	return root
}
