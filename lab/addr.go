// Package lab runs a multi-site micro data centre on one machine: per site a
// vcsim vCenter, a real HAProxy, PowerDNS and MariaDB, and web nodes that
// come and go with their VMs' power state. `mdc dev`, `mdc lab` and the tests
// use it; the platform file it writes describes it to the rest of mdc.
package lab

import "fmt"

// Plan is the lab's address plan. Site i (0-based) lives in 127.(Base+i).0.0/16:
//
//	.0.1        vcsim (VCenterPort), HAProxy runtime API (HAProxyAPIPort),
//	            PowerDNS DNS (DNSPort) and API (PDNSAPIPort), MariaDB (DBPort)
//	.0.2        the site's load-balancer frontend (ServicePort): what DNS answers
//	.0.10-.250  web nodes: HTTP on ServicePort, SNMP on SNMPPort
//
// Tests give each package its own Base so that labs run side by side.
type Plan struct {
	Base           int
	VCenterPort    int
	HAProxyAPIPort int
	DNSPort        int
	PDNSAPIPort    int
	DBPort         int
	ServicePort    int
	SNMPPort       int
	ControlPort    int
}

// DefaultPlan is the address plan of `mdc dev`: uk on 127.1.0.0/16, us on 127.2.0.0/16.
func DefaultPlan() Plan {
	return Plan{
		Base: 1, VCenterPort: 8989, HAProxyAPIPort: 9999, DNSPort: 5300,
		PDNSAPIPort: 8081, DBPort: 3306, ServicePort: 8080, SNMPPort: 1161,
		ControlPort: 7070,
	}
}

// InfraIP is the address of site i's infrastructure services.
func (p Plan) InfraIP(site int) string { return fmt.Sprintf("127.%d.0.1", p.Base+site) }

// FrontendIP is site i's load-balancer frontend address.
func (p Plan) FrontendIP(site int) string { return fmt.Sprintf("127.%d.0.2", p.Base+site) }

// NodeIP is the address of web node n (0-based) at site i.
func (p Plan) NodeIP(site, n int) string { return fmt.Sprintf("127.%d.0.%d", p.Base+site, 10+n) }

// MaxNodes is how many node addresses a site has.
const MaxNodes = 241

// ControlAddr is where the running lab takes `mdc lab` commands.
func (p Plan) ControlAddr() string { return fmt.Sprintf("127.%d.0.1:%d", p.Base, p.ControlPort) }
