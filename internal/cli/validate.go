package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/microdc/mdc/config"
	"github.com/microdc/mdc/platform"
)

func newValidateCmd(cfg *config.Config) *cobra.Command {
	return &cobra.Command{
		Use:   "validate [FILE...]",
		Short: "Check platform files and print every error with its file, line and field",
		Long: `validate loads each platform file, applies defaults and checks every field.
Each problem is printed as FILE:LINE:COLUMN: FIELD: what is expected. It exits 1
when any file has errors. Without arguments it checks $MDC_PLATFORM_FILE.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{cfg.PlatformFile}
			}
			bad := 0
			for _, path := range args {
				p, err := platform.Load(path)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					bad++
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d sites, %d services, %d protected VMs)\n",
					path, len(p.Sites), len(p.Services), len(p.Replication))
			}
			if bad > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %d platform files invalid", bad, len(args))}
			}
			return nil
		},
	}
}
