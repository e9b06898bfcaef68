package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/microdc/mdc/config"
	"github.com/microdc/mdc/devstack"
	"github.com/microdc/mdc/lab"
)

// devStopTimeout bounds Ctrl-C: the operator gets the prompt back even if a
// component hangs on the way down.
const devStopTimeout = 15 * time.Second

type devFlags struct {
	ip, stateDir               string
	grpcPort, uiPort, natsPort int
	noLab                      bool
	noMonitor                  bool
	noTrigger                  bool
	triggerPlatform            string
	sites                      []string
	labBase, labControlPort    int
	readyFile                  string
}

func newDevCmd(cfg *config.Config) *cobra.Command {
	f := devFlags{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole platform in this process on embedded defaults",
		Long: `dev runs, in one process: a Temporal server (SQLite under the state dir) with
its Web UI, NATS with JetStream, the two-site lab (vcsim, HAProxy, PowerDNS,
MariaDB and web nodes per site) and a worker. State survives restarts: a second
` + "`mdc dev`" + ` resumes where the first stopped. Ctrl-C stops everything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDev(cmd.Context(), cfg, f, cmd.OutOrStdout()) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.ip, "ip", "127.0.0.1", "address Temporal, the Web UI and NATS listen on")
	fl.IntVar(&f.grpcPort, "grpc-port", 7233, "Temporal gRPC port")
	fl.IntVar(&f.uiPort, "ui-port", 8233, "Temporal Web UI port (0 disables the UI)")
	fl.IntVar(&f.natsPort, "nats-port", 4222, "NATS client port")
	fl.StringVar(&f.stateDir, "state-dir", "", "state directory (default $MDC_STATE_DIR)")
	fl.BoolVar(&f.noLab, "no-lab", false, "run Temporal, NATS and the worker without the lab")
	fl.BoolVar(&f.noMonitor, "no-monitor", false, "run no monitors (by default one per lab site and a witness publish events)")
	fl.BoolVar(&f.noTrigger, "no-trigger", false, "run no trigger (by default one turns events into workflow starts and signals, as `mdc trigger` does)")
	fl.StringVar(&f.triggerPlatform, "trigger-platform", "", "platform file the trigger takes its rules (triggers section) and failover policy from (default: the lab's)")
	fl.StringSliceVar(&f.sites, "sites", []string{"uk", "us"}, "lab site names; the first holds the primary database")
	fl.IntVar(&f.labBase, "lab-base", 1, "lab address plan: site i lives in 127.(base+i).0.0/16")
	fl.IntVar(&f.labControlPort, "lab-control-port", 7070, "port of the lab control API `mdc lab` talks to")
	fl.StringVar(&f.readyFile, "ready-file", "", "write the addresses as JSON to this file once ready (for scripts)")
	return cmd
}

func runDev(ctx context.Context, cfg *config.Config, f devFlags, out io.Writer) error {
	log := cfg.Logger(out)
	stateDir := cfg.StateDir
	if f.stateDir != "" {
		stateDir = f.stateDir
	}
	stateDir, _ = filepath.Abs(stateDir)
	plan := lab.DefaultPlan()
	plan.Base, plan.ControlPort = f.labBase, f.labControlPort
	opts := devstack.Options{
		StateDir: stateDir, IP: f.ip, GRPCPort: f.grpcPort, UIPort: f.uiPort, NATSPort: f.natsPort,
		Namespace: cfg.TemporalNamespace, Lab: !f.noLab, Logger: log, Monitors: !f.noLab && !f.noMonitor,
		NoTrigger: f.noTrigger, TriggerPlatform: f.triggerPlatform,
		LabOptions: lab.Options{Dir: filepath.Join(stateDir, "lab"), Sites: f.sites, Plan: plan, Zone: "mdc.test.", InitialWeb: 2},
	}
	t0 := time.Now()
	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	st, err := devstack.Start(startCtx, opts)
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "mdc dev: stopping...")
		t1 := time.Now()
		done := make(chan struct{})
		go func() { defer close(done); st.Stop() }()
		select {
		case <-done:
			fmt.Fprintf(out, "mdc dev: stopped in %s\n", time.Since(t1).Round(time.Millisecond))
		case <-time.After(devStopTimeout):
			// The lab's children die with this process (Pdeathsig), and
			// Temporal's SQLite and JetStream are crash-safe: exiting is safe.
			fmt.Fprintf(out, "mdc dev: a component did not stop within %s; exiting anyway (state on disk is crash-safe)\n", devStopTimeout)
		}
	}()
	ready := time.Since(t0)
	printBanner(out, st, stateDir, ready, f)
	if f.readyFile != "" {
		if err := writeReadyFile(f.readyFile, st, stateDir, ready); err != nil {
			return err
		}
	}
	return st.Wait(ctx)
}

func printBanner(out io.Writer, st *devstack.Stack, stateDir string, ready time.Duration, f devFlags) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nmdc dev is ready in %s (state in %s)\n\n", ready.Round(time.Millisecond), stateDir)
	fmt.Fprintf(&b, "  Temporal gRPC   %s\n", st.Temporal.Address)
	if st.Temporal.UIURL != "" {
		fmt.Fprintf(&b, "  Temporal Web UI %s\n", st.Temporal.UIURL)
	}
	fmt.Fprintf(&b, "  NATS            %s (JetStream)\n", st.NATS.URL)
	if ms := st.Monitors(); len(ms) > 0 {
		names := make([]string, len(ms))
		for i, m := range ms {
			names[i] = m.Name()
		}
		fmt.Fprintf(&b, "  monitors        %s (events on mdc.events.>)\n", strings.Join(names, ", "))
	}
	if rules := st.TriggerRules(); rules != "" {
		fmt.Fprintf(&b, "  trigger         %s\n                  counters logged every minute when they change, and at stop\n", rules)
	}
	if st.Lab != nil {
		for _, s := range st.Lab.Status().Sites {
			fmt.Fprintf(&b, "\n  site %s (region %s)\n", s.Name, s.Region)
			fmt.Fprintf(&b, "    vCenter       %s\n", s.VCenter)
			fmt.Fprintf(&b, "    web (HAProxy) %s   runtime API %s\n", s.Frontend, s.LBAPI)
			fmt.Fprintf(&b, "    PowerDNS      dns %s   api %s\n", s.DNS, s.DNSAPI)
			fmt.Fprintf(&b, "    MariaDB       %s\n", s.Database)
			for _, n := range s.Nodes {
				if !n.Running {
					continue
				}
				fmt.Fprintf(&b, "    node          %-10s %s\n", n.Name, n.IP)
			}
		}
		fmt.Fprintf(&b, "\n  platform file   %s\n  credentials     . %s\n", st.Lab.PlatformPath(), st.Lab.EnvPath())
		fmt.Fprintf(&b, "\nTry:\n")
		fmt.Fprintf(&b, "  curl http://%s:%d/                      # a page through the uk load balancer\n", st.Lab.Plan().FrontendIP(0), st.Lab.Plan().ServicePort)
		fmt.Fprintf(&b, "  dig -p %d @%s www.mdc.test +subnet=198.51.100.1/24   # the answer for region na\n", st.Lab.Plan().DNSPort, st.Lab.Plan().InfraIP(0))
		fmt.Fprintf(&b, "  mdc lab status\n  mdc lab load %s-web-1 2.5\n  mdc lab kill-site %s && mdc lab revive-site %s\n", f.sites[0], f.sites[0], f.sites[0])
		fmt.Fprintf(&b, "  mdc validate %s\n", st.Lab.PlatformPath())
	}
	fmt.Fprintf(&b, "\nCtrl-C stops everything.\n")
	fmt.Fprint(out, b.String())
}
