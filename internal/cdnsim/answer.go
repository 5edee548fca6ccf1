package cdnsim

import (
	"net/netip"
	"slices"

	"github.com/miekg/dns"
)

// maxChain bounds CNAME chains; the world's are one hop long.
const maxChain = 8

// soaTTL is the TTL of the zone's SOA record when it is asked for.
const soaTTL = 3600

// hop is one CNAME record of a chain.
type hop struct {
	owner, target string
	ttl           uint32
}

// result is the authoritative answer to one question, before it becomes a DNS message.
type result struct {
	rcode    int
	chain    []hop
	ips      []netip.Addr
	ttl      uint32 // TTL of the address records
	scope    int    // ECS scope prefix length (RFC 7871 §7.2.1)
	negative bool   // NXDOMAIN or NODATA: the SOA goes in the authority section (RFC 2308)
	soa      bool   // the question is the apex SOA: the SOA goes in the answer section
}

// Answer returns what the CDN world's authoritative answers for name and qtype to a query whose
// ECS option carries ecs: the addresses at the end of any CNAME chain (sorted), the ECS scope
// prefix length, the smallest TTL along the chain (the SOA minimum for NXDOMAIN and NODATA) and
// the DNS rcode. Names outside Zone are REFUSED.
//
// The CDNs look ecs's first address up in their partitions; an invalid ecs (no ECS option) or a
// /0 source gets the provider's default edge with scope 0, as real CDNs answer by the resolver's
// own address, which is outside the world here. Honest CDNs report the prefix length of the CIDR
// piece of the block holding that address (which may be longer than the source prefix, e.g. 26
// inside a split /24), or, outside the world, of the largest prefix around it holding no world
// address; echo CDNs report the source prefix length; global names and negative answers report 0.
func (w *World) Answer(name string, qtype uint16, ecs netip.Prefix) (ips []netip.Addr, scopeBits int, ttl uint32, rcode int) {
	res := w.lookup(name, qtype, ecs)
	ttl = res.ttl // 0 when the answer is only a CNAME chain
	for _, h := range res.chain {
		if ttl == 0 || h.ttl < ttl {
			ttl = h.ttl
		}
	}
	return slices.Clone(res.ips), res.scope, ttl, res.rcode
}

// Truth returns the exact addresses a CDN gives to the client at address client for name and
// qtype (sorted), as if the query's ECS option carried the full address (/32 or /128). It is the
// ground truth an answer cached for a wider key is judged against: blocks finer than /24 show here.
func (w *World) Truth(name string, qtype uint16, client netip.Addr) []netip.Addr {
	var ecs netip.Prefix
	if client.IsValid() {
		client = client.Unmap()
		ecs = netip.PrefixFrom(client, client.BitLen())
	}
	return slices.Clone(w.lookup(name, qtype, ecs).ips)
}

// lookup answers one question: follow CNAMEs inside the zone, then answer the final name.
func (w *World) lookup(name string, qtype uint16, ecs netip.Prefix) result {
	n := canonical(name)
	if !inZone(n) {
		return result{rcode: dns.RcodeRefused}
	}
	var res result
	for range maxChain {
		d := w.domains[n]
		switch {
		case d == nil && n == Zone && qtype == dns.TypeSOA:
			res.soa, res.ttl = true, soaTTL
			return res
		case d == nil && n == Zone:
			return negative(res, dns.RcodeSuccess)
		case d == nil && w.ents[n]:
			return negative(res, dns.RcodeSuccess)
		case d == nil:
			return negative(res, dns.RcodeNameError)
		case d.Kind == KindCNAME && qtype != dns.TypeCNAME:
			res.chain = append(res.chain, hop{owner: n, target: d.Target, ttl: d.TTL})
			n = d.Target
			continue
		}
		return w.records(res, d, qtype, ecs)
	}
	return result{rcode: dns.RcodeServerFailure}
}

// negative finishes res as NXDOMAIN or NODATA, keeping any CNAME chain that led there.
func negative(res result, rcode int) result {
	res.rcode, res.negative, res.ttl = rcode, true, negativeTTL
	return res
}

// records answers qtype for the existing name d.
func (w *World) records(res result, d *domain, qtype uint16, ecs netip.Prefix) result {
	switch {
	case d.Kind == KindCNAME: // a CNAME query for the alias itself
		res.chain = append(res.chain, hop{owner: d.Name, target: d.Target, ttl: d.TTL})
		return res
	case qtype != dns.TypeA && qtype != dns.TypeAAAA:
		return negative(res, dns.RcodeSuccess)
	case d.cdn == nil:
		res.ips = d.fixed4
		if qtype == dns.TypeAAAA {
			res.ips = d.fixed6
		}
		if len(res.ips) == 0 {
			return negative(res, dns.RcodeSuccess)
		}
		res.ttl = d.TTL
		return res
	}
	site, scope := w.route(d.cdn, ecs)
	res.ips = make([]netip.Addr, d.count)
	for i := range res.ips {
		if qtype == dns.TypeA {
			res.ips[i] = d.cdn.edge4(site, d.slot+i)
		} else {
			res.ips[i] = d.cdn.edge6(site, d.slot+i)
		}
	}
	res.ttl, res.scope = d.TTL, scope
	return res
}

// route returns the edge site c sends the ECS prefix ecs to, and the scope it reports.
func (w *World) route(c *cdn, ecs netip.Prefix) (site, scope int) {
	if !ecs.IsValid() || ecs.Bits() == 0 {
		return c.defaultEdge, 0
	}
	a := ecs.Masked().Addr()
	if a.Is6() {
		if i := w.findAlloc6(hi64(a)); i >= 0 {
			site, scope = c.route6(hi64(a), w.allocs6[i].region, w.cfg.AltEdgeRate)
		} else {
			site, scope = c.defaultEdge, w.gapBits(a)
		}
	} else if p, ok := c.find(a); ok {
		site, scope = c.blocks[p.block].Edge, p.prefix.Bits()
	} else {
		site, scope = c.defaultEdge, w.gapBits(a)
	}
	if !c.Honest {
		scope = ecs.Bits()
	}
	return site, scope
}

// gapBits returns the length of the shortest prefix around a that holds no address of the world:
// the honest scope of the default answer a client outside the world gets.
func (w *World) gapBits(a netip.Addr) int {
	for bits := 0; bits < a.BitLen(); bits++ {
		if !w.overlapsWorld(netip.PrefixFrom(a, bits).Masked()) {
			return bits
		}
	}
	return a.BitLen()
}

// overlapsWorld reports whether p shares an address with any region.
func (w *World) overlapsWorld(p netip.Prefix) bool {
	if p.Addr().Is6() {
		for _, a := range w.allocs6 {
			if p.Overlaps(prefix6(a.first, a.bits)) {
				return true
			}
		}
		return false
	}
	first := u32(p.Addr())
	last := first | uint32(1<<(32-p.Bits())-1)
	i, _ := slices.BinarySearchFunc(w.allocs, first, func(x alloc, u uint32) int {
		if x.last < u {
			return -1
		}
		return 1
	})
	return i < len(w.allocs) && w.allocs[i].first <= last
}
