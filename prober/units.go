package prober

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/cespare/xxhash/v2"
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
	// sparse marks a /56 of a network too wide to enumerate (see sparse):
	// unless the answers put it in a learnt block, it is left out of the new
	// library rather than kept in its old block, whose other /56s nobody
	// asked about (its clients are then keyed by their own /56).
	sparse bool
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
// sorted by address, and remembers each block's record. A sparse network's
// units are only the /56s of seen (observed or planned) inside it. loc,
// when set, locates every unit; otherwise units carry their record's place.
func buildUnits(recs []cidrdb.Record, loc Locator, seen []netip.Prefix) ([]unit, map[uint32]cidrdb.Record, error) {
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
		var list []netip.Prefix
		if sparse(p) {
			list = inside(seen, p)
		} else {
			list = pieces(p, unitBitsFor(p))
		}
		for _, u := range list {
			g := geoOf(r)
			if loc != nil {
				l := loc.Locate(u.Addr())
				g = geo{country: l.Country, city: l.City, isp: l.ISP, asn: l.ASN}
			}
			units = append(units, unit{prefix: u, block: r.BlockID, geo: g, sparse: sparse(p)})
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

// DefaultSample6 is how many /56s of every IPv6 network wider than /52 are
// probed besides the ones clients asked from (RunConfig.Sample6).
const DefaultSample6 = 16

// Units returns the subnets Probe asks for a starting library: every /24
// (IPv4) or /56 (IPv6) of its networks, wider pieces for IPv4 networks
// wider than /8, and networks finer than that as they are; sorted. An IPv6
// network wider than /52 is never enumerated: see UnitsFor, which Units
// calls without demand and with the default sample.
func Units(recs []cidrdb.Record) []netip.Prefix {
	units, sample := UnitsFor(recs, nil, DefaultSample6)
	out := append(units, sample...)
	slices.SortFunc(out, comparePrefix)
	return slices.Compact(out)
}

// UnitsFor returns the subnets to probe for a starting library, sorted:
// units are every /24 (IPv4) or /56 (IPv6) of its networks (wider pieces
// for IPv4 networks wider than /8), except that an IPv6 network wider than
// /52 contributes only the demand /56s inside it (the /56s clients asked
// from, the server's demand log); sample is up to sample6 more /56s of each
// such network, spread evenly over it (none when sample6 <= 0), to probe
// after the units.
func UnitsFor(recs []cidrdb.Record, demand []netip.Prefix, sample6 int) (units, sample []netip.Prefix) {
	want := make([]netip.Prefix, 0, len(demand))
	for _, d := range demand {
		if d = normalPrefix(d); d.IsValid() && d.Addr().Is6() && d.Bits() >= unitBits6 {
			want = append(want, ancestor(d, unitBits6))
		}
	}
	slices.SortFunc(want, comparePrefix)
	want = slices.Compact(want)
	for _, r := range recs {
		p := normalPrefix(r.Network)
		switch {
		case !p.IsValid():
		case sparse(p):
			units = append(units, inside(want, p)...)
			sample = append(sample, spreadSample(p, sample6)...)
		default:
			units = append(units, pieces(p, unitBitsFor(p))...)
		}
	}
	slices.SortFunc(units, comparePrefix)
	units = slices.Compact(units)
	sample = slices.DeleteFunc(sample, func(p netip.Prefix) bool { _, dup := slices.BinarySearchFunc(units, p, comparePrefix); return dup })
	slices.SortFunc(sample, comparePrefix)
	return units, slices.Compact(sample)
}

// inside returns the /56s of sorted that lie in p.
func inside(sorted []netip.Prefix, p netip.Prefix) []netip.Prefix {
	i, _ := slices.BinarySearchFunc(sorted, p, comparePrefix)
	var out []netip.Prefix
	for ; i < len(sorted) && p.Contains(sorted[i].Addr()); i++ {
		if sorted[i].Bits() >= unitBits6 {
			out = append(out, ancestor(sorted[i], unitBits6))
		}
	}
	return slices.Compact(out)
}

// spreadSample returns n /56s of p, one in each of n equal stretches of it,
// at a place in its stretch chosen by a hash of p, so a rerun samples the
// same /56s and neighbouring networks are not sampled in step.
func spreadSample(p netip.Prefix, n int) []netip.Prefix {
	span := unitBits6 - p.Bits() // p holds 2^span /56s
	if n <= 0 || span <= 0 {
		return nil
	}
	n = min(n, 1<<min(span, 20))
	stride := uint64(1) << span / uint64(n)
	b, _ := p.MarshalBinary()
	h := xxhash.Sum64(b)
	out := make([]netip.Prefix, 0, n)
	for i := range uint64(n) {
		off := i*stride + (h+i*0x9e3779b97f4a7c15)%stride
		out = append(out, addOffset(p, off))
	}
	return out
}

// addOffset returns the off-th /56 of the IPv6 prefix p.
func addOffset(p netip.Prefix, off uint64) netip.Prefix {
	a := p.Masked().Addr().As16()
	hi := binary.BigEndian.Uint64(a[:8]) + off<<(64-unitBits6)
	binary.BigEndian.PutUint64(a[:8], hi)
	return netip.PrefixFrom(netip.AddrFrom16(a), unitBits6)
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
