package prober

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/httpdns/httpdns/cidrdb"
)

// Locator says where an address sits. *cidrdb.DB satisfies it; open it
// on the geo databases without a CIDRDB, so each unit is located by the
// IP library rather than by the blocks being relearnt.
type Locator interface {
	Locate(addr netip.Addr) cidrdb.Location
}

// geo is the place of a unit or block, as a CIDRDB record carries it.
type geo struct {
	country, city, isp string
	asn                uint32
}

func geoOf(r cidrdb.Record) geo {
	return geo{country: r.Country, city: r.City, isp: r.ISP, asn: r.ASN}
}

// unit is one probed subnet of the starting library.
type unit struct {
	prefix netip.Prefix
	block  uint32 // block_id in the starting library
	geo    geo    // where the locator (or the record) puts it
}

// cell is the smallest piece the learner tells apart: a unit, or a piece
// of one that was probed inside.
type cell struct {
	prefix netip.Prefix
	unit   int // index in units
}

// ErrNoBlocks reports a learner or run given no starting library.
var ErrNoBlocks = errors.New("no starting blocks")

// buildUnits cuts every record's network into units (see unitBitsFor),
// sorted by address, and remembers each block's record. loc, when set,
// locates every unit; otherwise units carry their record's place.
func buildUnits(recs []cidrdb.Record, loc Locator) ([]unit, map[uint32]cidrdb.Record, error) {
	if len(recs) == 0 {
		return nil, nil, ErrNoBlocks
	}
	var units []unit
	blocks := map[uint32]cidrdb.Record{}
	for _, r := range recs {
		p := normalPrefix(r.Network)
		if !p.IsValid() || r.BlockID == 0 {
			return nil, nil, fmt.Errorf("%w: record %s block %d", cidrdb.ErrSchema, r.Network, r.BlockID)
		}
		if _, ok := blocks[r.BlockID]; !ok {
			blocks[r.BlockID] = r
		}
		for _, u := range pieces(p, unitBitsFor(p)) {
			g := geoOf(r)
			if loc != nil {
				l := loc.Locate(u.Addr())
				g = geo{country: l.Country, city: l.City, isp: l.ISP, asn: l.ASN}
			}
			units = append(units, unit{prefix: u, block: r.BlockID, geo: g})
		}
	}
	slices.SortFunc(units, func(a, b unit) int { return comparePrefix(a.prefix, b.prefix) })
	for i := 1; i < len(units); i++ {
		if units[i-1].prefix.Overlaps(units[i].prefix) {
			return nil, nil, fmt.Errorf("%w: networks %s and %s overlap", cidrdb.ErrSchema,
				units[i-1].prefix, units[i].prefix)
		}
	}
	return units, blocks, nil
}

// normalPrefix unmaps an IPv4-mapped network and clears its host bits.
func normalPrefix(p netip.Prefix) netip.Prefix {
	if p.IsValid() && p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// Units returns the subnets Probe asks for a starting library: every /24
// (IPv4) or /56 (IPv6) of its networks, wider pieces for very wide
// networks, and networks finer than that as they are; sorted.
func Units(recs []cidrdb.Record) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range recs {
		p := normalPrefix(r.Network)
		if p.IsValid() {
			out = append(out, pieces(p, unitBitsFor(p))...)
		}
	}
	slices.SortFunc(out, comparePrefix)
	return slices.Compact(out)
}

// unitPrefixes returns the prefixes of units.
func unitPrefixes(units []unit) []netip.Prefix {
	out := make([]netip.Prefix, len(units))
	for i, u := range units {
		out[i] = u.prefix
	}
	return out
}

// overlapsAny reports whether p overlaps one of the sorted, disjoint
// prefixes ps.
func overlapsAny(ps []netip.Prefix, p netip.Prefix) bool {
	i, _ := slices.BinarySearchFunc(ps, p, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	// The prefix starting at or after p's address, and the one before it,
	// are the only candidates.
	for _, j := range []int{i - 1, i} {
		if j >= 0 && j < len(ps) && ps[j].Overlaps(p) {
			return true
		}
	}
	return false
}

// SubnetRecords returns one CIDRDB record per subnet (e.g. every /24 of a
// fresh deployment), block ids 1, 2, ... in the order given, located by
// loc (nil leaves the place empty): a starting library for a first run.
func SubnetRecords(subnets []netip.Prefix, loc Locator) []cidrdb.Record {
	out := make([]cidrdb.Record, 0, len(subnets))
	for i, p := range subnets {
		r := cidrdb.Record{Network: normalPrefix(p), BlockID: uint32(i + 1)}
		if loc != nil {
			l := loc.Locate(r.Network.Addr())
			r.Country, r.City, r.ISP, r.ASN = l.Country, l.City, l.ISP, l.ASN
		}
		out = append(out, r)
	}
	return out
}
