package resolver

import (
	"net/netip"

	"github.com/httpdns/httpdns/dnsmsg"
	"github.com/miekg/dns"
)

// The DNS messages themselves (query, ECS, reply checks and parsing) live in package dnsmsg, shared
// with the prober; these thin wrappers keep the resolver's call sites short.

// ecsSource is the prefix of client sent as ECS: its /24 or /56, or an invalid prefix when the
// address is special-purpose and must never leave us (RFC 7871 §11, see dnsmsg.Special). The global
// tier sends none whatever the client.
func ecsSource(client netip.Addr) netip.Prefix { return dnsmsg.Source(client) }

// newQuery builds the upstream question, with an ECS option for src when src is valid.
func newQuery(name string, qtype uint16, src netip.Prefix) *dns.Msg {
	return dnsmsg.NewQuery(name, qtype, src)
}

// parsed is what the resolver keeps of an upstream reply.
type parsed struct {
	ips      []netip.Addr // unique, sorted, at most dnsmsg.MaxAddrs
	rcode    int
	ttl      uint32 // smallest TTL along the CNAME chain, or the negative TTL
	negative bool   // NXDOMAIN or NODATA (RFC 2308)
	scope    int    // ECS scope prefix length from the reply, -1 when the reply had no ECS
}

// parseReply flattens the CNAME chain from qname to its final records of qtype and computes the
// negative TTL from the SOA (RFC 2308 §5); see dnsmsg.Parse.
func parseReply(reply *dns.Msg, qname string, qtype uint16, defaultNegTTL uint32) parsed {
	r := dnsmsg.Parse(reply, qname, qtype, defaultNegTTL)
	return parsed{ips: r.IPs, rcode: r.Rcode, ttl: r.TTL, negative: r.Negative, scope: r.Scope}
}
