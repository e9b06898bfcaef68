package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/microdc/mdc/config"
	"github.com/microdc/mdc/lab"
)

func newLabCmd(cfg *config.Config) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Break and inspect the lab that `mdc dev` runs",
		Long:  "lab talks to the lab control API of a running `mdc dev` (loopback only).",
	}
	cmd.PersistentFlags().StringVar(&addr, "lab-addr", lab.DefaultPlan().ControlAddr(), "address of the lab control API")
	client := func() *lab.Client { return lab.NewClient(addr) }

	var asJSON bool
	status := &cobra.Command{
		Use: "status", Short: "Show every lab site, its addresses and its web nodes", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := client().Status(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SITE\tREGION\tSTATE\tFRONTEND\tDNS\tDATABASE\tNODES")
			for _, s := range st.Sites {
				state := "up"
				if !s.Alive {
					state = "DOWN"
				}
				nodes := ""
				for i, n := range s.Nodes {
					if i > 0 {
						nodes += " "
					}
					if !n.Running {
						nodes += fmt.Sprintf("%s(off)", n.Name)
						continue
					}
					nodes += fmt.Sprintf("%s(%s load %.2f)", n.Name, n.IP, n.Load1)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Region, state, s.Frontend, s.DNS, s.Database, nodes)
			}
			return tw.Flush()
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	kill := &cobra.Command{
		Use: "kill-site SITE", Short: "Stop a site's vCenter, HAProxy, PowerDNS, MariaDB and nodes at once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := client().KillSite(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "site %s killed\n", args[0])
			return nil
		},
	}
	revive := &cobra.Command{
		Use: "revive-site SITE", Short: "Bring a killed site back with the state it had", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := client().ReviveSite(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "site %s revived\n", args[0])
			return nil
		},
	}
	load := &cobra.Command{
		Use: "load NODE LOAD", Short: "Set a web node's 1-minute load average (what its SNMP agent reports)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := strconv.ParseFloat(args[1], 64)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("load %q is not a number (e.g. 2.5)", args[1])}
			}
			if err := client().SetLoad(cmd.Context(), args[0], v); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node %s load %.2f\n", args[0], v)
			return nil
		},
	}
	cmd.AddCommand(status, kill, revive, load)
	return cmd
}
