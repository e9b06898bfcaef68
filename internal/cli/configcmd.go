package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/microdc/mdc/config"
)

func newConfigCmd(cfg *config.Config) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the effective process configuration (secrets redacted)",
		Long:  "config prints every MDC_* setting, its effective value and whether it is the default.\nSecrets are shown as <redacted>.\n\n" + config.Usage(),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			settings := cfg.Redacted()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(settings)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VARIABLE\tVALUE\tSOURCE")
			for _, s := range settings {
				src := "environment"
				if s.Default {
					src = "default"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Value, src)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}
