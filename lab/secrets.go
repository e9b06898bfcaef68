package lab

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// secrets are the lab's generated credentials. They are created once, kept
// in the lab's state dir with mode 0600, and reach the rest of mdc only as
// environment variables named by the platform file.
type secrets struct {
	VCenterUser     string `json:"vcenter_user"`
	VCenterPassword string `json:"vcenter_password"`
	PDNSAPIKey      string `json:"pdns_api_key"`
	DBAdminPassword string `json:"db_admin_password"`
	DBAppPassword   string `json:"db_app_password"`
	DBReplPassword  string `json:"db_repl_password"`
	SNMPCommunity   string `json:"snmp_community"`
}

func randomToken() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err) // the kernel's CSPRNG does not fail
	}
	return hex.EncodeToString(b)
}

func loadSecrets(dir string) (*secrets, error) {
	path := filepath.Join(dir, "secrets.json")
	b, err := os.ReadFile(path)
	if err == nil {
		var s secrets
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("lab secrets %s are corrupt (delete the lab state dir to start afresh): %w", path, err)
		}
		return &s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	s := &secrets{
		VCenterUser: "mdc", VCenterPassword: randomToken(), PDNSAPIKey: randomToken(),
		DBAdminPassword: randomToken(), DBAppPassword: randomToken(), DBReplPassword: randomToken(),
		SNMPCommunity: "mdc" + randomToken()[:8],
	}
	b, _ = json.MarshalIndent(s, "", "  ")
	if err := writeFileAtomic(path, b, 0o600); err != nil {
		return nil, err
	}
	return s, nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
