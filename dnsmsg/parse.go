package dnsmsg

import (
	"net/netip"
	"slices"

	"github.com/miekg/dns"
)

// MaxAddrs is the most addresses of one family a [Reply] keeps. A CDN hands a client a few edges; a
// reply with hundreds is a misconfiguration or an attack on our cache, and 32 addresses already fill
// a UDP reply of [UDPSize] for IPv6.
const MaxAddrs = 32

// maxHops bounds how many CNAMEs [Parse] follows, which also ends a CNAME loop.
const maxHops = 16

// Reply is what the service keeps of an upstream reply.
type Reply struct {
	// IPs are the addresses of the asked type at the end of the CNAME chain: unique, sorted, at most
	// MaxAddrs. Sorted so that two answers compare with slices.Equal whatever order the upstream
	// rotated them in.
	IPs []netip.Addr
	// Rcode is the reply's rcode.
	Rcode int
	// TTL is, in seconds, the smallest TTL along the CNAME chain (its CNAME and address records), or
	// for a negative answer its negative TTL (see [Parse]).
	TTL uint32
	// Negative is true for NXDOMAIN and NODATA (RFC 2308): no address of the asked type.
	Negative bool
	// Scope is the reply's ECS SCOPE PREFIX-LENGTH, or -1 when the reply had no ECS option.
	Scope int
}

// Parse flattens reply for the question (qname, qtype, class IN): it follows the CNAME chain from
// qname inside the answer section and keeps the qtype addresses at its end. Records of another class
// are no part of the answer and are skipped.
//
// The chain is followed deterministically: when one owner has several CNAMEs (which RFC 2181 §10.1
// forbids, but upstreams send), the first in the answer section wins; the chain ends at the first
// name that owns an address of qtype, or after 16 hops, which also stops loops. Addresses are
// deduplicated and sorted, and only the lowest [MaxAddrs] are kept, so the kept set does not depend on
// the order the upstream listed them in.
//
// TTL is the smallest TTL along the chain. A reply without an address is negative, with the negative
// TTL of RFC 2308 §5: the smaller of the first SOA's TTL and its MINIMUM field, or defaultNegTTL
// without a SOA; a CNAME that leads nowhere lowers it to the CNAME's own TTL. Parse does not check
// the reply: run [CheckReply] first.
func Parse(reply *dns.Msg, qname string, qtype uint16, defaultNegTTL uint32) Reply {
	r := Reply{Rcode: reply.Rcode, Scope: -1}
	if e := ECS(reply); e != nil {
		r.Scope = int(e.SourceScope)
	}
	name := qname
	minTTL := ^uint32(0)
	for range maxHops {
		next := ""
		for _, rr := range reply.Answer {
			h := rr.Header()
			if h.Class != dns.ClassINET || !equalNames(h.Name, name) {
				continue
			}
			switch v := rr.(type) {
			case *dns.CNAME:
				if next == "" {
					next = v.Target
					minTTL = min(minTTL, h.Ttl)
				}
			case *dns.A:
				if a, ok := netip.AddrFromSlice(v.A.To4()); ok && qtype == dns.TypeA {
					r.IPs = append(r.IPs, a)
					minTTL = min(minTTL, h.Ttl)
				}
			case *dns.AAAA:
				if a, ok := netip.AddrFromSlice(v.AAAA.To16()); ok && qtype == dns.TypeAAAA {
					r.IPs = append(r.IPs, a)
					minTTL = min(minTTL, h.Ttl)
				}
			}
		}
		if len(r.IPs) > 0 || next == "" {
			break
		}
		name = next
	}
	if len(r.IPs) > 0 {
		slices.SortFunc(r.IPs, netip.Addr.Compare)
		r.IPs = slices.Compact(r.IPs)
		if len(r.IPs) > MaxAddrs {
			kept := make([]netip.Addr, MaxAddrs) // do not keep the long reply's array alive in the cache
			copy(kept, r.IPs)
			r.IPs = kept
		}
		r.TTL = minTTL
		return r
	}
	r.IPs = nil
	r.Negative = true
	r.TTL = min(negativeTTL(reply, defaultNegTTL), minTTL)
	return r
}

// negativeTTL is the negative-caching TTL of RFC 2308 §5: min(SOA TTL, SOA MINIMUM) of the first SOA
// in the authority section, or def without one.
func negativeTTL(reply *dns.Msg, def uint32) uint32 {
	for _, rr := range reply.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(soa.Hdr.Ttl, soa.Minttl)
		}
	}
	return def
}
