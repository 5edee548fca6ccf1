package cidrdb

import (
	"net/netip"
)

// cityRecord is the part of a MaxMind City-schema record that Locate reads.
type cityRecord struct {
	City struct {
		Names struct {
			EN string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"city"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
}

// ispRecord is the part of a MaxMind ISP- or ASN-schema record that Locate
// reads. The ASN schema has no `isp`; its organisation stands in.
type ispRecord struct {
	ISP   string `maxminddb:"isp"`
	ASN   uint32 `maxminddb:"autonomous_system_number"`
	ASOrg string `maxminddb:"autonomous_system_organization"`
}

// Locate returns where addr sits. An IPv4-mapped IPv6 address is located as
// the IPv4 address it maps. Inside the CIDRDB the address gets its block and
// the block's record; outside it (or without a CIDRDB) its default /24 or
// /56 block and what the City and ISP databases say. An invalid address
// gets the zero Location. A geo record that fails to decode (a corrupt
// database) leaves its fields unknown rather than failing the lookup.
//
// Locate is the resolver's per-request hot path: it decodes nothing and
// allocates nothing (geo records are decoded once, at Open).
func (db *DB) Locate(addr netip.Addr) Location {
	if !addr.IsValid() {
		return Location{}
	}
	addr = addr.Unmap().WithZone("")
	if loc, ok := db.locateBlock(addr); ok {
		return loc
	}
	def := defaultBlock(addr)
	loc := Location{Addr: addr, Block: def, Network: def}
	db.locateGeo(&loc)
	return loc
}

// locateBlock finds addr in the CIDRDB.
func (db *DB) locateBlock(addr netip.Addr) (Location, bool) {
	if db.cidr == nil {
		return Location{}, false
	}
	q := addr
	if db.index.mapped4 && addr.Is4() {
		// The file keeps IPv4 in ::ffff:0:0/96, not in ::/96 where
		// maxminddb looks an IPv4 address up.
		q = netip.AddrFrom16(addr.As16())
	}
	res := db.cidr.Lookup(q)
	if !res.Found() {
		return Location{}, false
	}
	b := db.index.byOffset[res.Offset()]
	// A miss means the walk at Open never reached this record; a family
	// mismatch means an IPv6 address reached an IPv4 block through one of
	// the tree's IPv4 aliases (::ffff:0:0/96, 6to4 2002::/16, Teredo
	// 2001::/32). Either way the address is not in a block of its own family.
	if b == nil || b.first.Addr().Is4() != addr.Is4() {
		return Location{}, false
	}
	network := res.Prefix()
	if network.Addr().Is4In6() && network.Bits() >= 96 {
		network = netip.PrefixFrom(network.Addr().Unmap(), network.Bits()-96)
	}
	if !network.Contains(addr) {
		// The leaf is an IPv6 network wider than the IPv4 subtree, which
		// Open's family check makes unreachable for an IPv4 block; kept so
		// that Network always holds Addr. For an IPv4 address that leaf
		// is the whole IPv4 space.
		network = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	return Location{
		Addr:    addr,
		Block:   b.first,
		Network: network,
		BlockID: b.rec.BlockID,
		Country: b.rec.Country,
		City:    b.rec.City,
		ISP:     b.rec.ISP,
		ASN:     b.rec.ASN,
	}, true
}

// locateGeo fills loc's country, city, ISP and ASN from the MaxMind
// databases, from the records Open decoded.
func (db *DB) locateGeo(loc *Location) {
	if db.city != nil {
		if res := db.city.Lookup(loc.Addr); res.Found() {
			f := db.cityRecs[res.Offset()]
			loc.Country, loc.City = f.country, f.city
		}
	}
	if db.isp != nil {
		if res := db.isp.Lookup(loc.Addr); res.Found() {
			f := db.ispRecs[res.Offset()]
			loc.ISP, loc.ASN = f.isp, f.asn
		}
	}
}

// defaultBlock is addr's /24 (IPv4) or /56 (IPv6).
func defaultBlock(addr netip.Addr) netip.Prefix {
	bits := DefaultBitsIPv6
	if addr.Is4() {
		bits = DefaultBitsIPv4
	}
	p, _ := addr.Prefix(bits) // cannot fail: addr is valid and bits fit its family
	return p
}
