package cli

import (
	"encoding/json"
	"os"
	"time"

	"github.com/microdc/mdc/devstack"
)

// readyInfo is what --ready-file holds: enough for a script or test to find
// every service without parsing the banner.
type readyInfo struct {
	PID          int     `json:"pid"`
	StateDir     string  `json:"state_dir"`
	Temporal     string  `json:"temporal"`
	UI           string  `json:"ui"`
	NATS         string  `json:"nats"`
	Platform     string  `json:"platform,omitempty"`
	LabEnv       string  `json:"lab_env,omitempty"`
	LabControl   string  `json:"lab_control,omitempty"`
	ReadySeconds float64 `json:"ready_seconds"`
}

func writeReadyFile(path string, st *devstack.Stack, stateDir string, ready time.Duration) error {
	ri := readyInfo{
		PID: os.Getpid(), StateDir: stateDir, Temporal: st.Temporal.Address, UI: st.Temporal.UIURL,
		NATS: st.NATS.URL, ReadySeconds: ready.Seconds(),
	}
	if st.Lab != nil {
		ri.Platform, ri.LabEnv, ri.LabControl = st.Lab.PlatformPath(), st.Lab.EnvPath(), st.Lab.Plan().ControlAddr()
	}
	b, err := json.MarshalIndent(ri, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
