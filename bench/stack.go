package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/devstack"
	"github.com/microdc/mdc/embedded"
	"github.com/microdc/mdc/lab"
	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/workers"
)

// stack is `mdc dev` in this process (embedded Temporal on SQLite, NATS,
// the two-site lab, the shared worker and one worker per site), plus
// activity structs the scenarios call directly.
type stack struct {
	*devstack.Stack
	p    *platform.Platform
	deps workers.Deps
	dir  string
	keep bool
	log  *os.File
}

// startStack starts a fresh stack with its lab at 127.base and 127.base+1,
// Temporal and NATS on free ports. Component logs (warnings and up) go to
// a file in the run's log directory, so that they never mix with the table.
func (e *env) startStack(ctx context.Context, tune func(*devstack.Options)) (*stack, error) {
	base := e.nextBase()
	dir, err := os.MkdirTemp(e.opts.WorkDir, fmt.Sprintf("stack-%d-", base))
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "stack.log"))
	if err != nil {
		return nil, err
	}
	var ports [2]int
	for i := range ports {
		if ports[i], err = embedded.FreePort("127.0.0.1"); err != nil {
			return nil, err
		}
	}
	plan := lab.DefaultPlan()
	plan.Base = base
	logger := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	o := devstack.Options{
		StateDir: dir, GRPCPort: ports[0], NATSPort: ports[1], Namespace: "default", Lab: true, Logger: logger,
		LabOptions: lab.Options{Dir: filepath.Join(dir, "lab"), Sites: []string{"uk", "us"}, Plan: plan, Zone: "mdc.test.", InitialWeb: 2, Logger: logger},
	}
	if tune != nil {
		tune(&o)
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	st, err := devstack.Start(sctx, o)
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("start the stack at lab base %d (log %s): %w", base, logf.Name(), err)
	}
	s := &stack{Stack: st, p: st.Lab.Platform(), dir: dir, keep: e.opts.Keep, log: logf}
	if s.deps, err = workers.BuildDeps(s.p, st.Lab.Lookup, s.p.SiteNames()); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// stop stops everything the stack started and removes its state, unless
// the bench keeps it (-keep) for a look at the logs.
func (s *stack) stop() {
	if s.deps.VSphere != nil {
		vsphere.Logout(context.Background(), s.deps.VSphere)
	}
	s.Stack.Stop()
	s.log.Close()
	if !s.keep {
		_ = os.RemoveAll(s.dir)
	}
}

// site returns the named site of the lab's platform file.
func (s *stack) site(name string) *platform.Site {
	site, _ := s.p.Site(name)
	return site
}

// get requests url with a 3 s timeout and returns the status and body.
func get(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}

// write makes one database write through site's load balancer (GET /db).
func (s *stack) write(ctx context.Context, site string) error {
	code, body, err := get(ctx, "http://"+s.site(site).LB.Frontend+"/db")
	if err != nil {
		return fmt.Errorf("write through %s's load balancer: %w", site, err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("write through %s's load balancer: HTTP %d: %s", site, code, body)
	}
	return nil
}
