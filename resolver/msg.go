package resolver

import (
	"net"
	"net/netip"
	"sort"

	"github.com/miekg/dns"
)

// ECS source prefix lengths sent upstream (DESIGN.md §5): a /24 or /56 is precise enough for every CDN
// and is what RFC 7871 §11.1 recommends for privacy.
const (
	sourceBits4 = 24
	sourceBits6 = 56
)

// ecsSource is the prefix of client sent as ECS, or an invalid prefix when none may be sent:
// the global tier sends none, and private, loopback, link-local or unspecified addresses never leave us.
func ecsSource(client netip.Addr) netip.Prefix {
	if !client.IsValid() || client.IsPrivate() || client.IsLoopback() || client.IsLinkLocalUnicast() ||
		client.IsUnspecified() || client.IsMulticast() || client.IsLinkLocalMulticast() {
		return netip.Prefix{}
	}
	p, _ := client.Prefix(sourceBitsOf(client))
	return p
}

// sourceBitsOf is the ECS source prefix length for client: /24 for IPv4, /56 for IPv6 (DESIGN.md §5).
func sourceBitsOf(client netip.Addr) int {
	if client.Is6() {
		return sourceBits6
	}
	return sourceBits4
}

// newQuery builds the upstream question, with an ECS option for src when src is valid.
func newQuery(name string, qtype uint16, src netip.Prefix) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.SetUDPSize(dns.DefaultMsgSize)
	if src.IsValid() {
		e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, SourceNetmask: uint8(src.Bits())}
		if src.Addr().Is4() {
			e.Family = 1
			e.Address = net.IP(src.Addr().AsSlice()).To4()
		} else {
			e.Family = 2
			e.Address = net.IP(src.Addr().AsSlice())
		}
		opt.Option = append(opt.Option, e)
	}
	m.Extra = append(m.Extra, opt)
	return m
}

// parsed is what the resolver keeps of an upstream reply.
type parsed struct {
	ips      []netip.Addr
	rcode    int
	ttl      uint32 // smallest TTL along the CNAME chain, or the negative TTL
	negative bool   // NXDOMAIN or NODATA (RFC 2308)
	scope    int    // ECS scope prefix length from the reply, -1 when the reply had no ECS
}

// parseReply flattens the CNAME chain from qname to its final records of qtype (TTL = the smallest
// along the chain) and computes the negative TTL from the SOA (RFC 2308 §5: min of SOA TTL and MINIMUM).
func parseReply(reply *dns.Msg, qname string, qtype uint16, defaultNegTTL uint32) parsed {
	p := parsed{rcode: reply.Rcode, scope: -1}
	if e := ecsOf(reply); e != nil {
		p.scope = int(e.SourceScope)
	}
	name := dns.CanonicalName(qname)
	minTTL := ^uint32(0)
	// Follow CNAMEs; the bound stops loops.
	for hops := 0; hops < 16; hops++ {
		next := ""
		for _, rr := range reply.Answer {
			h := rr.Header()
			if dns.CanonicalName(h.Name) != name {
				continue
			}
			switch v := rr.(type) {
			case *dns.CNAME:
				if next == "" {
					next = dns.CanonicalName(v.Target)
					minTTL = min(minTTL, h.Ttl)
				}
			case *dns.A:
				if qtype == dns.TypeA {
					if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
						p.ips = append(p.ips, a)
						minTTL = min(minTTL, h.Ttl)
					}
				}
			case *dns.AAAA:
				if qtype == dns.TypeAAAA {
					if a, ok := netip.AddrFromSlice(v.AAAA.To16()); ok {
						p.ips = append(p.ips, a)
						minTTL = min(minTTL, h.Ttl)
					}
				}
			}
		}
		if len(p.ips) > 0 || next == "" {
			break
		}
		name = next
	}
	if len(p.ips) > 0 {
		sort.Slice(p.ips, func(i, j int) bool { return p.ips[i].Less(p.ips[j]) })
		p.ttl = minTTL
		return p
	}
	p.negative = true
	p.ttl = negativeTTL(reply, defaultNegTTL)
	if minTTL < p.ttl { // a CNAME that leads nowhere lives no longer than the CNAME itself
		p.ttl = minTTL
	}
	return p
}

func negativeTTL(reply *dns.Msg, def uint32) uint32 {
	for _, rr := range reply.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(soa.Hdr.Ttl, soa.Minttl)
		}
	}
	return def
}
