package dnsmsg

import (
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// UDPSize is the EDNS UDP payload size every upstream query advertises: the DNS Flag Day 2020 value,
// which avoids IP fragmentation on common paths. A reply that does not fit comes back truncated and is
// asked again over TCP.
const UDPSize = 1232

// NewQuery builds an upstream question for name (with or without its trailing dot) and qtype: RD set
// (the upstreams are recursive nodes), an OPT record advertising [UDPSize], and an ECS option for src
// when src is valid (RFC 7871 §6: FAMILY, SOURCE PREFIX-LENGTH, SCOPE 0 and the address truncated to
// the source prefix). An invalid src sends no ECS option, which tells the upstream not to tailor the
// answer to any client.
func NewQuery(name string, qtype uint16, src netip.Prefix) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.SetUDPSize(UDPSize)
	if src.IsValid() {
		opt.Option = append(opt.Option, ECSOption(src))
	}
	m.Extra = append(m.Extra, opt)
	return m
}

// ECSOption is the ECS option carrying src (RFC 7871 §6), its address masked to the prefix.
func ECSOption(src netip.Prefix) *dns.EDNS0_SUBNET {
	src = src.Masked()
	e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, SourceNetmask: uint8(src.Bits())}
	if src.Addr().Is4() {
		e.Family = 1
		e.Address = net.IP(src.Addr().AsSlice()).To4()
	} else {
		e.Family = 2
		e.Address = net.IP(src.Addr().AsSlice())
	}
	return e
}

// ECS returns the message's EDNS Client Subnet option (the first one of its OPT record), or nil.
func ECS(m *dns.Msg) *dns.EDNS0_SUBNET {
	opt := m.IsEdns0()
	if opt == nil {
		return nil
	}
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_SUBNET); ok {
			return e
		}
	}
	return nil
}

// ECSPrefix is the source prefix an ECS option carries, and false when its family, length or
// address are not a valid IPv4 or IPv6 prefix.
func ECSPrefix(e *dns.EDNS0_SUBNET) (netip.Prefix, bool) {
	addr, ok := netip.AddrFromSlice(e.Address)
	if !ok {
		return netip.Prefix{}, false
	}
	switch {
	case e.Family == 1 && addr.Unmap().Is4():
		addr = addr.Unmap()
	case e.Family == 2 && addr.Is6():
	default:
		return netip.Prefix{}, false
	}
	p, err := addr.Prefix(int(e.SourceNetmask))
	return p, err == nil
}
