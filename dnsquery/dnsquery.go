// Package dnsquery asks a DNS server what a client in a given network would
// be told, using the EDNS Client Subnet option that geo records (PowerDNS
// LUA view(), ifurlup()) answer by.
package dnsquery

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"
)

// WithClientSubnet adds an EDNS Client Subnet option for subnet to m; a
// zero subnet leaves m unchanged (the server then answers by source address).
func WithClientSubnet(m *dns.Msg, subnet netip.Prefix) {
	if !subnet.IsValid() {
		return
	}
	family := uint16(1)
	if subnet.Addr().Is6() {
		family = 2
	}
	o := m.IsEdns0()
	if o == nil {
		m.SetEdns0(1232, false)
		o = m.IsEdns0()
	}
	o.Option = append(o.Option, &dns.EDNS0_SUBNET{
		Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: uint8(subnet.Bits()),
		Address: net.IP(subnet.Masked().Addr().AsSlice()),
	})
}

// A returns the sorted A records server gives name for a client in subnet
// (zero: no client subnet), over UDP with a 2 s timeout.
func A(ctx context.Context, server, name string, subnet netip.Prefix) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	WithClientSubnet(m, subnet)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).ExchangeContext(ctx, m, server)
	if err != nil {
		return nil, err
	}
	var ips []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	slices.Sort(ips)
	return ips, nil
}
