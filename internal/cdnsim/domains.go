package cdnsim

import (
	"net/netip"
	"strings"
)

// Domain kinds, as Domain.Kind reports them.
const (
	// KindHonest is a CDN name whose replies carry the true ECS scope.
	KindHonest = "cdn-honest"
	// KindEcho is a CDN name whose replies echo the source prefix length as the scope.
	KindEcho = "cdn-echo"
	// KindGlobal is a name with the same answer for every client and ECS scope 0.
	KindGlobal = "global"
	// KindCNAME is an alias to a CDN name, answered with the whole chain in one reply.
	KindCNAME = "cname"
)

// Zone is the zone the simulated authoritative serves; it refuses every other name.
const Zone = "test"

// Negative answers (RFC 2308): the SOA's minimum, and so the TTL of NXDOMAIN and NODATA.
const negativeTTL = 60

// Domain is one name of the world.
type Domain struct {
	// Name is lower case without the trailing dot, e.g. "img.cdn-a.test".
	Name string
	// Kind is KindHonest, KindEcho, KindGlobal or KindCNAME.
	Kind string
	// TTL is the TTL of the name's own records in seconds (for a CNAME: of the CNAME record).
	TTL uint32
	// CDN is the provider whose partition decides the answer ("" for global names; for a CNAME,
	// the provider of the chain's end).
	CDN string
	// Target is the CNAME's target for KindCNAME, "" otherwise.
	Target string
	// IPv6 reports whether the name has AAAA records (a query for AAAA is NODATA otherwise).
	IPv6 bool
}

// domain is a Domain and how its addresses are made.
type domain struct {
	Domain
	cdn    *cdn
	slot   int          // first host number at the edge sites: each name of a CDN has its own
	count  int          // addresses per answer
	fixed4 []netip.Addr // a global name's A records
	fixed6 []netip.Addr // a global name's AAAA records
}

// cdnName is one name of a provider: its first label, TTL and addresses per answer.
type cdnName struct {
	label string
	ttl   uint32
	count int
}

// cdnNames lists every provider's names.
func cdnNames() map[string][]cdnName {
	return map[string][]cdnName{
		"cdn-a": {{"img", 300, 1}, {"api", 60, 1}, {"shop", 120, 1}},
		"cdn-b": {{"video", 120, 2}, {"live", 30, 1}},
		"cdn-c": {{"static", 600, 1}, {"dl", 300, 2}},
		"cdn-d": {{"news", 180, 1}, {"m", 90, 1}},
		"cdn-e": {{"pay", 60, 1}, {"feed", 240, 2}},
	}
}

// buildDomains names every provider's domains, the global names and the CNAME.
func (w *World) buildDomains() {
	w.domains = map[string]*domain{}
	names := cdnNames()
	for _, c := range w.cdns {
		kind := KindEcho
		if c.Honest {
			kind = KindHonest
		}
		for i, n := range names[c.Name] {
			name := n.label + "." + c.Name + "." + Zone
			w.add(&domain{Domain: Domain{Name: name, Kind: kind, TTL: n.ttl, CDN: c.Name, IPv6: true},
				cdn: c, slot: 1 + 8*i, count: n.count})
		}
	}
	w.add(&domain{Domain: Domain{Name: "www.portal.test", Kind: KindGlobal, TTL: 600, IPv6: true},
		fixed4: hosts4(10, 3), fixed6: []netip.Addr{netip.MustParseAddr("2001:db8:e000::10")}})
	w.add(&domain{Domain: Domain{Name: "ntp.portal.test", Kind: KindGlobal, TTL: 300},
		fixed4: hosts4(123, 1)})
	w.add(&domain{Domain: Domain{Name: "pool.portal.test", Kind: KindGlobal, TTL: 300},
		fixed4: hosts4(128, 40)})
	w.add(&domain{Domain: Domain{Name: "www.shop.test", Kind: KindCNAME, TTL: 45, CDN: "cdn-a",
		Target: "shop.cdn-a.test", IPv6: true}})
}

// hosts4 returns n consecutive addresses of 198.51.100.0/24 (TEST-NET-2) from host first on.
func hosts4(first, n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = netip.AddrFrom4([4]byte{198, 51, 100, byte(first + i)})
	}
	return out
}

// add registers d and the empty non-terminals above it (e.g. "cdn-a.test").
func (w *World) add(d *domain) {
	if w.ents == nil {
		w.ents = map[string]bool{}
	}
	w.domains[d.Name] = d
	for n := d.Name; ; {
		i := strings.IndexByte(n, '.')
		if i < 0 {
			break
		}
		n = n[i+1:]
		if n != Zone && w.domains[n] == nil {
			w.ents[n] = true
		}
	}
}

// canonical lower-cases name and drops the trailing dot.
func canonical(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}

// inZone reports whether the canonical name is Zone or below it.
func inZone(name string) bool {
	return name == Zone || strings.HasSuffix(name, "."+Zone)
}
