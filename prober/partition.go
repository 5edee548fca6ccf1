package prober

import (
	"slices"
)

// partition assigns every cell to a group: a block of the library being
// learnt.
type partition struct {
	label  []int   // group of each cell
	groups [][]int // cells of each group, in address order
	kept   []bool  // the group is (what is left of) an old block, kept as it was
}

func newPartition(n int) partition {
	p := partition{label: make([]int, n)}
	for i := range p.label {
		p.label[i] = -1
	}
	return p
}

func (p *partition) newGroup(kept bool) int {
	p.groups = append(p.groups, nil)
	p.kept = append(p.kept, kept)
	return len(p.groups) - 1
}

func (p *partition) add(g, c int) {
	p.label[c] = g
	p.groups[g] = append(p.groups[g], c)
}

// keepOld puts every cell not yet in a group into its old block's group,
// except the cells of sparse units: nobody vouched for the rest of their
// old block, so they leave the library (their clients are keyed by their
// own /56 until the answers put them in a learnt block).
func (p *partition) keepOld(cells []cell, units []unit) {
	p.keep(cells, units, false)
}

// keep is keepOld; withSparse keeps sparse cells in their old blocks too
// (the old library as it was).
func (p *partition) keep(cells []cell, units []unit, withSparse bool) {
	old := map[uint32]int{}
	for c := range cells {
		if p.label[c] >= 0 || (units[cells[c].unit].sparse && !withSparse) {
			continue
		}
		b := units[cells[c].unit].block
		g, ok := old[b]
		if !ok {
			g = p.newGroup(true)
			old[b] = g
		}
		p.add(g, c)
	}
}

// sorted returns p with its groups ordered by their first cell.
func (p partition) sorted() partition {
	order := make([]int, len(p.groups))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return p.groups[a][0] - p.groups[b][0] })
	out := newPartition(len(p.label))
	for _, g := range order {
		ng := out.newGroup(p.kept[g])
		for _, c := range p.groups[g] {
			out.add(ng, c)
		}
	}
	return out
}

// oldPartition is the starting library: cells grouped by their unit's block.
func oldPartition(cells []cell, units []unit) partition {
	p := newPartition(len(cells))
	p.keep(cells, units, true)
	return p
}

// runs merges and splits: maximal runs of adjacent cells that answer every
// question alike and sit in one country and ISP become one group each. A
// cell that lacks an answer to some question cannot be compared and is
// left out: keepOld puts it back with what is left of its old block.
func runs(cells []cell, units []unit, vec []uint32, nq int) partition {
	p := newPartition(len(cells))
	run := -1 // group of the previous cell when it is complete
	for c := range cells {
		if !complete(vec[c*nq : (c+1)*nq]) {
			run = -1
			continue
		}
		if run < 0 || !joins(cells, units, vec, nq, c-1, c) {
			run = p.newGroup(false)
		}
		p.add(run, c)
	}
	return p
}

// gather joins runs that are apart in address space but answer every
// question alike and have one family and place (country, ISP, and the city and ASN
// covering most of their addresses): the CDNs treat them as one, as a
// carrier's scattered allocations in one city often are. Such a block has
// several networks sharing one block_id.
func gather(p partition, cells []cell, units []unit, vec []uint32, nq int) partition {
	type class struct {
		v6  bool
		geo geo
		vec string
	}
	out := newPartition(len(cells))
	byClass := map[class]int{}
	for _, members := range p.groups {
		first := members[0]
		k := class{v6: cells[first].prefix.Addr().Is6(), geo: majorityGeo(cells, units, members), vec: vecKey(vec[first*nq : (first+1)*nq])}
		g, ok := byClass[k]
		if !ok {
			g = out.newGroup(false)
			byClass[k] = g
		}
		for _, c := range members {
			out.add(g, c)
		}
	}
	for _, members := range out.groups {
		slices.Sort(members)
	}
	return out
}

// vecKey makes a map key of an answer vector.
func vecKey(v []uint32) string {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = append(b, byte(x>>24), byte(x>>16), byte(x>>8), byte(x))
	}
	return string(b)
}

// joins reports whether cell b continues cell a's run: adjacent, equal
// answers, and the same country and ISP (a CDN's blocks never cross them,
// and the library must not put one ISP's clients in another's block).
func joins(cells []cell, units []unit, vec []uint32, nq, a, b int) bool {
	if lastAddr(cells[a].prefix).Next() != cells[b].prefix.Addr() {
		return false
	}
	ga, gb := units[cells[a].unit].geo, units[cells[b].unit].geo
	if ga.country != gb.country || ga.isp != gb.isp {
		return false
	}
	return slices.Equal(vec[a*nq:(a+1)*nq], vec[b*nq:(b+1)*nq])
}

// agree is hysteresis: the groups of latest that prev has too are taken;
// every other cell stays in its old block. A block therefore changes only
// when two probe rounds cut it the same way, and noise in one round
// cannot make blocks flap.
func agree(latest, prev partition, cells []cell, units []unit) partition {
	out := newPartition(len(cells))
	for g, members := range latest.groups {
		if !sameGroup(prev, members) {
			continue
		}
		ng := out.newGroup(latest.kept[g])
		for _, c := range members {
			out.add(ng, c)
		}
	}
	out.keepOld(cells, units)
	return out.sorted()
}

// sameGroup reports whether members are exactly one group of p.
func sameGroup(p partition, members []int) bool {
	g := p.label[members[0]]
	if len(p.groups[g]) != len(members) {
		return false
	}
	for _, c := range members {
		if p.label[c] != g {
			return false
		}
	}
	return true
}
