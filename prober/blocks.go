package prober

import (
	"math"
	"net/netip"

	"github.com/httpdns/httpdns/cidrdb"
)

// block is one block of the learnt library.
type block struct {
	id       uint32
	cells    []int
	geo      geo
	networks []netip.Prefix
}

// assemble turns the groups of p into blocks. A group that is exactly an
// old block's cells, or what is kept of one, keeps that block's id; every
// other group gets a fresh id above the largest old one, in address order.
// A kept group keeps its old record's place; a learnt group has its
// units' country and ISP (equal by construction) and the city and ASN
// covering most of its addresses.
func assemble(p partition, cells []cell, units []unit, old map[uint32]cidrdb.Record) []block {
	oldCells := map[uint32]int{}
	for _, c := range cells {
		oldCells[units[c.unit].block]++
	}
	var next uint32
	for id := range old {
		next = max(next, id)
	}
	out := make([]block, 0, len(p.groups))
	for g, members := range p.groups {
		b := block{cells: members, networks: networksOf(cells, members)}
		first := units[cells[members[0]].unit].block
		if id, one := oneOld(cells, units, members); one && (p.kept[g] || oldCells[id] == len(members)) {
			b.id = id
		} else {
			next++
			b.id = next
		}
		if p.kept[g] {
			b.geo = geoOf(old[first])
		} else {
			b.geo = majorityGeo(cells, units, members)
		}
		out = append(out, b)
	}
	return out
}

// oneOld returns the old block of members when they all come from one.
func oneOld(cells []cell, units []unit, members []int) (uint32, bool) {
	id := units[cells[members[0]].unit].block
	for _, c := range members {
		if units[cells[c].unit].block != id {
			return 0, false
		}
	}
	return id, true
}

// networksOf returns the minimal CIDR cover of each run of adjacent cells
// among members (in address order).
func networksOf(cells []cell, members []int) []netip.Prefix {
	var out []netip.Prefix
	start := cells[members[0]].prefix
	end := lastAddr(start)
	for _, c := range members[1:] {
		p := cells[c].prefix
		if end.Next() == p.Addr() {
			end = lastAddr(p)
			continue
		}
		out = append(out, cover(start.Addr(), end)...)
		start, end = p, lastAddr(p)
	}
	return append(out, cover(start.Addr(), end)...)
}

// majorityGeo returns the place of members' units: their country and ISP,
// and the city and ASN that cover the most addresses (the first met on a
// tie), so a few /24s the IP library puts in the wrong city do not move
// their block.
func majorityGeo(cells []cell, units []unit, members []int) geo {
	type key struct {
		city string
		asn  uint32
	}
	weight := map[key]float64{}
	var order []key
	for _, c := range members {
		g := units[cells[c].unit].geo
		k := key{g.city, g.asn}
		if _, ok := weight[k]; !ok {
			order = append(order, k)
		}
		weight[k] += math.Ldexp(1, -cells[c].prefix.Bits())
	}
	best := order[0]
	for _, k := range order[1:] {
		if weight[k] > weight[best] {
			best = k
		}
	}
	g := units[cells[members[0]].unit].geo
	g.city, g.asn = best.city, best.asn
	return g
}

// records returns the blocks as CIDRDB records, one per network.
func records(blocks []block) []cidrdb.Record {
	var out []cidrdb.Record
	for _, b := range blocks {
		for _, n := range b.networks {
			out = append(out, cidrdb.Record{Network: n, BlockID: b.id,
				Country: b.geo.country, City: b.geo.city, ISP: b.geo.isp, ASN: b.geo.asn})
		}
	}
	return out
}
