package cli

import (
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/log"

	"github.com/microdc/mdc/config"
	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/triggers"
)

func newTriggerCmd(cfg *config.Config) *cobra.Command {
	return &cobra.Command{
		Use:   "trigger",
		Short: "Run the trigger: JetStream events to Temporal workflow starts and signals",
		Long: `trigger consumes the MDC_EVENTS stream with the durable consumer "` + triggers.DefaultDurable + `" and applies
the rules of the platform file's triggers section. By default: site.down votes for
FailoverSite (ID failover-<site>, disaster mode), which starts once
failover.observer_quorum distinct observers currently report the site down (votes in
the key-value bucket ` + triggers.VotesBucket + `; duplicates and a flapping site fold into one
failover); node.load signals Autoscale (autoscale-<service>-<site>); other events are
recorded. "action: record" on a rule turns it off. Events that can never be valid go
to MDC_DEADLETTER with the reason; events Temporal does not accept are retried until
it does. Counters are logged every minute when they change, and at exit. Runs until
interrupted. Several triggers may share the consumer and the votes; ` + "`mdc dev`" + ` runs one
unless started with --no-trigger.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := cfg.Logger(cmd.ErrOrStderr())
			p, err := platform.Load(cfg.PlatformFile)
			if err != nil {
				return err
			}
			natsOpts, err := cfg.NATSOptions()
			if err != nil {
				return err
			}
			c, err := dialTemporal(cmd, cfg, log.NewStructuredLogger(logger))
			if err != nil {
				return err
			}
			defer c.Close()
			tr, err := triggers.New(cmd.Context(), triggers.Options{
				NATSURL: cfg.NATSURL, NATSOptions: natsOpts, Platform: p, Logger: logger,
				Starter: &triggers.TemporalStarter{Client: c, TaskQueue: cfg.TaskQueue},
			})
			if err != nil {
				return err
			}
			defer tr.Close()
			return tr.Run(cmd.Context())
		},
	}
}
