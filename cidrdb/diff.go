package cidrdb

import (
	"cmp"
	"net/netip"
	"slices"
)

// DiffExamples is how many examples a DiffReport keeps of each kind of
// change.
const DiffExamples = 5

// maxOldRefs is how many old blocks one example names.
const maxOldRefs = 4

// BlockRef names a block in a DiffReport: its id, its lowest network and
// its location.
type BlockRef struct {
	ID      uint32       `json:"block_id"`
	Network netip.Prefix `json:"network"`
	Country string       `json:"country"`
	City    string       `json:"city"`
	ISP     string       `json:"isp"`
	ASN     uint32       `json:"asn"`
}

// Change is one example of a kind of change: a new block and the old
// blocks it overlaps (the first maxOldRefs of them, in address order).
type Change struct {
	// New is the new block; nil for a removed block.
	New *BlockRef `json:"new,omitempty"`
	// Old are the old blocks New overlaps, or the removed block.
	Old []BlockRef `json:"old,omitempty"`
	// MoreOld counts the old blocks overlapped but not listed in Old.
	MoreOld int `json:"more_old,omitempty"`
}

// ChangeSet counts the blocks of one kind of change.
type ChangeSet struct {
	// Blocks counts the new blocks of this kind (the old ones for Removed).
	Blocks int `json:"blocks"`
	// OldBlocks counts the distinct old blocks they overlap.
	OldBlocks int `json:"old_blocks"`
	// Examples are the first DiffExamples of them in address order; none
	// for Unchanged.
	Examples []Change `json:"examples,omitempty"`
}

// Range is a range of addresses of one family.
type Range struct {
	First netip.Addr `json:"first"`
	Last  netip.Addr `json:"last"`
}

// String returns the range as a prefix when it is one, else "first-last".
func (r Range) String() string {
	if r.First.IsValid() && r.Last.IsValid() && r.First.Is4() == r.Last.Is4() {
		lo, hi := toU128(r.First), toU128(r.Last)
		d := hi.sub(lo)
		if k := d.bitLen(); !hi.less(lo) && mask(k) == d && lo.and(mask(k)) == (u128{}) && k <= r.First.BitLen() {
			return netip.PrefixFrom(r.First, r.First.BitLen()-k).String()
		}
	}
	return r.First.String() + "-" + r.Last.String()
}

// Coverage counts the maximal address ranges that one library covers and
// the other does not.
type Coverage struct {
	Ranges   int     `json:"ranges"`
	Examples []Range `json:"examples,omitempty"`
}

// DiffReport says how a new CIDRDB relates to an old one, block by block
// and by address coverage. Every new block is of exactly one kind:
//
//   - Unchanged: it holds exactly the addresses of one old block, located
//     alike (its block_id may differ);
//   - Moved: it holds exactly the addresses of one old block, located
//     elsewhere (another country, city, ISP or ASN);
//   - Merged: it holds two or more old blocks whole (and possibly addresses
//     the old library did not cover);
//   - Split: it is a part of one old block that now is several blocks, or
//     less than it was;
//   - Reshaped: anything else, such as a block that takes parts of two old
//     ones, or one old block plus new coverage;
//   - Added: no old block overlaps it.
//
// Removed counts the old blocks that no new block overlaps.
type DiffReport struct {
	OldNetworks int `json:"old_networks"`
	OldBlocks   int `json:"old_blocks"`
	NewNetworks int `json:"new_networks"`
	NewBlocks   int `json:"new_blocks"`

	Unchanged ChangeSet `json:"unchanged"`
	Moved     ChangeSet `json:"moved"`
	Merged    ChangeSet `json:"merged"`
	Split     ChangeSet `json:"split"`
	Reshaped  ChangeSet `json:"reshaped"`
	Added     ChangeSet `json:"added"`
	Removed   ChangeSet `json:"removed"`

	// CoverageAdded are the ranges only the new library covers, and
	// CoverageRemoved those only the old one covers.
	CoverageAdded   Coverage `json:"coverage_added"`
	CoverageRemoved Coverage `json:"coverage_removed"`
}

// library is one side of a diff: its records, its blocks in order of
// their lowest network (each the index of that network's record), and its
// networks as disjoint spans whose values index blocks.
type library struct {
	recs     []Record
	networks int
	blocks   []int32
	spans    []span
}

// ref describes block v.
func (lib *library) ref(v int32) BlockRef {
	r := lib.recs[lib.blocks[v]]
	p, _ := normNet(r.Network)
	return BlockRef{ID: r.BlockID, Network: p, Country: r.Country, City: r.City, ISP: r.ISP, ASN: r.ASN}
}

// sameLocation reports whether block v and block w of other carry one
// country, city, ISP and ASN.
func (lib *library) sameLocation(v int32, other *library, w int32) bool {
	a, b := lib.recs[lib.blocks[v]], other.recs[other.blocks[w]]
	return a.Country == b.Country && a.City == b.City && a.ISP == b.ISP && a.ASN == b.ASN
}

// newLibrary indexes recs, in any order. It takes whatever it is given:
// records with invalid networks are ignored, IPv4-mapped networks count as
// IPv4, and where networks overlap the one that starts first (the wider at
// a tie) keeps the addresses; a block whose networks all lie inside other
// blocks' is left out.
func newLibrary(recs []Record) library {
	items, networks := sortedItems(recs)
	lib := library{recs: recs, networks: networks, spans: make([]span, 0, len(items))}
	index := map[uint32]int32{}
	var covered u128 // last address of the networks so far
	for k, it := range items {
		if k > 0 && !covered.less(it.hi) {
			continue // wholly inside an earlier network
		}
		if k > 0 && !covered.less(it.lo) {
			it.lo, _ = covered.inc() // cannot wrap: covered < it.hi
		}
		covered = it.hi
		v, ok := index[recs[it.i].BlockID]
		if !ok {
			v = int32(len(lib.blocks))
			index[recs[it.i].BlockID] = v
			lib.blocks = append(lib.blocks, it.i)
		}
		lib.spans = append(lib.spans, span{it.lo, it.hi, v})
	}
	return lib
}

// item is the address range of recs[i], or a part of it.
type item struct {
	lo, hi u128
	i      int32
}

// sortedItems returns the ranges of the valid networks of recs, by first
// address and then widest first, and how many valid networks there are.
func sortedItems(recs []Record) ([]item, int) {
	items := make([]item, 0, len(recs))
	m := mappedSpan()
	networks := 0
	for i, r := range recs {
		p, ok := normNet(r.Network)
		if !ok {
			continue
		}
		networks++
		lo, hi := rangeOf(p)
		if p.Addr().Is4() || hi.less(m.lo) || m.hi.less(lo) {
			items = append(items, item{lo, hi, int32(i)})
			continue
		}
		// An IPv6 network around ::ffff:0:0/96 loses that part to IPv4.
		for _, s := range appendClipped(nil, span{lo: lo, hi: hi}, []span{m}) {
			items = append(items, item{s.lo, s.hi, int32(i)})
		}
	}
	slices.SortFunc(items, func(a, b item) int {
		return cmp.Or(a.lo.compare(b.lo), b.hi.compare(a.hi))
	})
	return items, networks
}

// normNet returns p masked, an IPv4-mapped network as IPv4, and false for
// an invalid p.
func normNet(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		return p, false
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}

// edge says that old block o and new block n share addresses.
type edge struct{ n, o int32 }

// overlap is what laying two libraries over each other shows.
type overlap struct {
	edges  []edge // sorted by new block, then old block; no duplicates
	oldDeg []int  // per old block, how many new blocks overlap it
	oldGap []bool // per old block, whether the new library misses part of it
	newGap []bool // per new block, whether the old library misses part of it

	added, removed coverageCounter
}

// Diff compares two CIDRDBs by address coverage: for every new block, how
// its addresses were blocked before. It sorts and sweeps the networks of
// both, so its cost follows the number of networks, never of addresses.
// Either side may be in any order; see DiffReport for the kinds of change.
func Diff(oldRecs, newRecs []Record) DiffReport {
	old, cur := newLibrary(oldRecs), newLibrary(newRecs)
	ov := overlap{
		oldDeg: make([]int, len(old.blocks)),
		oldGap: make([]bool, len(old.blocks)),
		newGap: make([]bool, len(cur.blocks)),
	}
	overlay(old.spans, cur.spans, func(lo, hi u128, o, n int32) {
		switch {
		case o >= 0 && n >= 0:
			if e := (edge{n, o}); len(ov.edges) == 0 || ov.edges[len(ov.edges)-1] != e {
				ov.edges = append(ov.edges, e)
			}
		case o >= 0:
			ov.oldGap[o] = true
			ov.removed.add(lo, hi)
		default:
			ov.newGap[n] = true
			ov.added.add(lo, hi)
		}
	})
	slices.SortFunc(ov.edges, func(a, b edge) int { return cmp.Or(cmp.Compare(a.n, b.n), cmp.Compare(a.o, b.o)) })
	ov.edges = slices.Compact(ov.edges)
	for _, e := range ov.edges {
		ov.oldDeg[e.o]++
	}
	rep := DiffReport{
		OldNetworks: old.networks, OldBlocks: len(old.blocks),
		NewNetworks: cur.networks, NewBlocks: len(cur.blocks),
		CoverageAdded: ov.added.finish(), CoverageRemoved: ov.removed.finish(),
	}
	rep.classify(&old, &cur, &ov)
	return rep
}

// classify sorts every new block into its kind of change, and counts the
// removed old blocks.
func (rep *DiffReport) classify(old, cur *library, ov *overlap) {
	seen := map[*ChangeSet][]bool{} // old blocks already counted, per kind
	k := 0
	for n := range cur.blocks {
		start := k
		for k < len(ov.edges) && int(ov.edges[k].n) == n {
			k++
		}
		olds := ov.edges[start:k]
		set := rep.kindOf(old, cur, ov, n, olds)
		for _, e := range olds {
			if seen[set] == nil {
				seen[set] = make([]bool, len(old.blocks))
			}
			if !seen[set][e.o] {
				seen[set][e.o] = true
				set.OldBlocks++
			}
		}
		set.Blocks++
		if set != &rep.Unchanged && len(set.Examples) < DiffExamples {
			set.Examples = append(set.Examples, example(old, cur.ref(int32(n)), olds))
		}
	}
	for o, deg := range ov.oldDeg {
		if deg > 0 {
			continue
		}
		rep.Removed.Blocks++
		rep.Removed.OldBlocks++
		if len(rep.Removed.Examples) < DiffExamples {
			rep.Removed.Examples = append(rep.Removed.Examples, Change{Old: []BlockRef{old.ref(int32(o))}})
		}
	}
}

// kindOf picks the kind of change of new block n, which overlaps the old
// blocks of olds.
func (rep *DiffReport) kindOf(old, cur *library, ov *overlap, n int, olds []edge) *ChangeSet {
	// whole reports whether old block o lies entirely inside block n.
	whole := func(o int32) bool { return ov.oldDeg[o] == 1 && !ov.oldGap[o] }
	switch {
	case len(olds) == 0:
		return &rep.Added
	case len(olds) == 1 && !ov.newGap[n] && whole(olds[0].o):
		if cur.sameLocation(int32(n), old, olds[0].o) {
			return &rep.Unchanged
		}
		return &rep.Moved
	case len(olds) == 1 && !ov.newGap[n]:
		return &rep.Split
	case len(olds) >= 2 && !slices.ContainsFunc(olds, func(e edge) bool { return !whole(e.o) }):
		return &rep.Merged
	}
	return &rep.Reshaped
}

// example describes new block b and the old blocks it overlaps.
func example(old *library, b BlockRef, olds []edge) Change {
	c := Change{New: &b, MoreOld: max(0, len(olds)-maxOldRefs)}
	for _, e := range olds[:min(len(olds), maxOldRefs)] {
		c.Old = append(c.Old, old.ref(e.o))
	}
	return c
}

// coverageCounter joins adjacent pieces of coverage into maximal ranges of
// one family, counting them and keeping the first few.
type coverageCounter struct {
	cov    Coverage
	open   bool
	lo, hi u128
}

func (c *coverageCounter) add(lo, hi u128) {
	if next, _ := c.hi.inc(); c.open && next == lo && isMapped4(lo) == isMapped4(c.lo) {
		c.hi = hi
		return
	}
	c.close()
	c.open, c.lo, c.hi = true, lo, hi
}

func (c *coverageCounter) close() {
	if !c.open {
		return
	}
	c.open = false
	c.cov.Ranges++
	if len(c.cov.Examples) < DiffExamples {
		is4 := isMapped4(c.lo)
		c.cov.Examples = append(c.cov.Examples, Range{First: c.lo.addr(is4), Last: c.hi.addr(is4)})
	}
}

func (c *coverageCounter) finish() Coverage {
	c.close()
	return c.cov
}
