package cli

import (
	"fmt"

	"os"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/microdc/mdc/activities/events"
	"github.com/microdc/mdc/activities/temporalops"
	"github.com/microdc/mdc/config"
	"github.com/microdc/mdc/platform"
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
			c, err := dialTemporal(cmd, cfg, log.NewStructuredLogger(logger))
			if err != nil {
				return err
			}
			defer c.Close()
			ws := []worker.Worker{workers.NewShared(c, cfg.TaskQueue)}
			if cfg.Site != "" {
				p, err := platform.Load(cfg.PlatformFile)
				if err != nil {
					return err
				}
				deps, err := workers.BuildDeps(p, os.LookupEnv, []string{cfg.Site})
				if err != nil {
					return fmt.Errorf("MDC_SITE=%s: %w", cfg.Site, err)
				}
				natsOpts, err := cfg.NATSOptions()
				if err != nil {
					return err
				}
				ev, err := events.New(cmd.Context(), events.Options{URL: cfg.NATSURL, NATSOptions: natsOpts})
				if err != nil {
					return fmt.Errorf("connect to NATS at %s (set MDC_NATS_URL): %w", cfg.NATSURL, err)
				}
				defer events.Close(ev)
				deps.Events, deps.TemporalOps = ev, temporalops.New(c)
				ws = append(ws, workers.NewSite(c, cfg.Site, deps))
			}
			for _, w := range ws {
				if err := w.Start(); err != nil {
					return fmt.Errorf("start worker: %w", err)
				}
				defer w.Stop()
			}
			logger.Info("worker polling", "workflows", cfg.TaskQueue, "site", cfg.Site)
			<-cmd.Context().Done()
			return nil
		},
	}
}
