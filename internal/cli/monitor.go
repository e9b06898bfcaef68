package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/microdc/mdc/config"
	"github.com/microdc/mdc/monitor"
	"github.com/microdc/mdc/platform"
)

func newMonitorCmd(cfg *config.Config) *cobra.Command {
	var site string
	var witness bool
	var tune monitor.Tuning
	cmd := &cobra.Command{
		Use:   "monitor (--site SITE | --witness)",
		Short: "Watch a site (or all sites, as the witness) and publish what is seen as events",
		Long: `monitor watches the platform and publishes events on NATS JetStream (stream
MDC_EVENTS, subjects mdc.events.<type>.<site>); the trigger turns them into workflows.

Run one per site, next to it (--site, default $MDC_SITE), and one witness somewhere
else (--witness). A site's monitor:
  - polls its nodes' SNMP load every --poll-interval and publishes node.load when a
    node's band changes (below in_load, between, at or above out_load, with a
    hysteresis), otherwise every --heartbeat;
  - checks each node's health_path and the LB frontend over HTTP every
    --health-interval: node.health on change, otherwise every --heartbeat;
  - reads its vCenter's host-disconnected and VM-powered-off events:
    host.disconnected, vm.powered_off;
  - sends a heartbeat to every other site each failover.detection_interval and
    publishes site.down after failover.misses misses in a row (nothing answers:
    LB, runtime API, DNS, database), site.up after as many answers.
The witness only sends heartbeats, to every site. The nodes are the site's
powered-on VMs of each service, listed from vCenter every --discover-interval.

Secrets come from the variables the platform file names: the site's vCenter
credentials and SNMP community are required; other sites' database DSNs are used
when set (to report the primary's last GTID with site.down), and their vCenter
credentials (to report with site.down how many nodes the site served, which the
failover starts at the target). Runs until interrupted.`,
		Example: `  # at site uk, with the platform file and secrets of a real deployment
  MDC_SITE=uk MDC_PLATFORM_FILE=/etc/mdc/platform.yaml mdc monitor

  # the witness, elsewhere
  mdc monitor --witness

  # against the lab of ` + "`mdc dev --no-monitor`" + ` (mdc dev otherwise runs one per site and a witness)
  . ~/.local/state/mdc/lab/lab.env && mdc monitor --site us --poll-interval 500ms`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("site") && !witness {
				site = cfg.Site
			}
			switch {
			case witness && site != "":
				return &exitError{code: 2, err: fmt.Errorf("--site %s and --witness: a monitor is one observer; run one of each", site)}
			case !witness && site == "":
				return &exitError{code: 2, err: errors.New("name the site this monitor runs at with --site (or MDC_SITE), or run the witness with --witness")}
			}
			p, err := platform.Load(cfg.PlatformFile)
			if err != nil {
				return err
			}
			if _, ok := p.Site(site); site != "" && !ok {
				return &exitError{code: 2, err: fmt.Errorf("--site %q: not a site of %s, which has %s", site, cfg.PlatformFile, strings.Join(p.SiteNames(), ", "))}
			}
			natsOpts, err := cfg.NATSOptions()
			if err != nil {
				return err
			}
			logger := cfg.Logger(cmd.ErrOrStderr())
			m, err := monitor.New(cmd.Context(), monitor.Options{
				Site: site, Witness: witness, Platform: p, Env: os.LookupEnv,
				NATSURL: cfg.NATSURL, NATSOptions: natsOpts, Logger: logger, Tuning: tune,
			})
			if err != nil {
				return err
			}
			defer m.Close()
			return m.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&site, "site", "", "the site this monitor runs at (default $MDC_SITE)")
	fl.BoolVar(&witness, "witness", false, "watch every site from outside: heartbeats only")
	fl.DurationVar(&tune.PollInterval, "poll-interval", monitor.DefaultPollInterval, "how often the nodes' SNMP load is read")
	fl.DurationVar(&tune.HealthInterval, "health-interval", monitor.DefaultHealthInterval, "how often nodes and the LB are checked over HTTP")
	fl.DurationVar(&tune.DiscoverInterval, "discover-interval", monitor.DefaultDiscoverInterval, "how often the site's nodes are listed from vCenter")
	fl.DurationVar(&tune.Heartbeat, "heartbeat", monitor.DefaultHeartbeat, "re-publish an unchanged node.load or node.health this often")
	fl.Float64Var(&tune.Hysteresis, "hysteresis", monitor.DefaultHysteresis, "how far a load must clear a threshold to leave its band")
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		for name, d := range map[string]time.Duration{"--poll-interval": tune.PollInterval, "--health-interval": tune.HealthInterval,
			"--discover-interval": tune.DiscoverInterval, "--heartbeat": tune.Heartbeat} {
			if d <= 0 {
				return &exitError{code: 2, err: fmt.Errorf("%s %s: expected a positive duration such as 1s", name, d)}
			}
		}
		if tune.Hysteresis <= 0 {
			return &exitError{code: 2, err: fmt.Errorf("--hysteresis %g: expected a positive load, e.g. 0.1", tune.Hysteresis)}
		}
		return nil
	}
	return cmd
}
