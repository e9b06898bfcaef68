package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/microdc/mdc/config"
	"github.com/microdc/mdc/workers"
)

func newWorkerCmd(cfg *config.Config) *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run a Temporal worker: the shared workflow queue, and the site queue when MDC_SITE is set",
		Long: `worker polls the task queue "` + workers.SharedQueue + `" for workflows and, when MDC_SITE names a
site, "` + workers.SiteQueue("<site>") + `" for the activities that must run near that site.
Run one per site, next to its vCenter, load balancer, DNS and database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := cfg.Logger(cmd.ErrOrStderr())
			opts, err := cfg.TemporalClientOptions()
			if err != nil {
				return err
			}
			opts.Logger = log.NewStructuredLogger(logger)
			c, err := client.DialContext(cmd.Context(), opts)
			if err != nil {
				return fmt.Errorf("connect to Temporal at %s (set MDC_TEMPORAL_ADDRESS): %w", cfg.TemporalAddress, err)
			}
			defer c.Close()
			queues := []string{cfg.TaskQueue}
			if cfg.Site != "" {
				queues = append(queues, workers.SiteQueue(cfg.Site))
			}
			for _, q := range queues {
				w := workers.New(c, q, workers.Deps{})
				if err := w.Start(); err != nil {
					return fmt.Errorf("start worker on %s: %w", q, err)
				}
				defer w.Stop()
				logger.Info("worker polling", "task_queue", q)
			}
			<-cmd.Context().Done()
			return nil
		},
	}
}
