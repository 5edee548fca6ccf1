package cidrdb

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
)

// The on-demand sibling search looks at no more than neighbourBudget*k
// neighbouring default blocks for k siblings, and never more than
// maxNeighbours, so a careless k cannot turn it into a scan of the address
// space.
const (
	neighbourBudget = 4
	maxNeighbours   = 1024
)

// Siblings returns up to k blocks related to loc, nearest by address first
// and never loc.Block itself: the blocks the resolver refreshes together
// with loc's (sibling prefetch, docs/design.md §7.3).
//
// Inside the CIDRDB they are the CIDRDB blocks of the same address family
// with loc's country, city and ISP; the distance between two blocks is the
// gap between the address spans their networks cover. Outside it, or
// without a CIDRDB, they are the blocks of the neighbouring /24s (/56s) on
// either side whose country, city and ISP equal loc's, found by locating at
// most 4*k neighbours (and at most 1024). A location whose country, city and ISP are all
// unknown has no siblings: "unknown" is not a place.
func (db *DB) Siblings(loc Location, k int) []netip.Prefix {
	if k <= 0 || !loc.Addr.IsValid() || !loc.Block.IsValid() || (loc.Country == "" && loc.City == "" && loc.ISP == "") {
		return nil
	}
	if loc.BlockID != 0 && db.index != nil {
		return db.index.siblings(loc, k)
	}
	return db.neighbours(loc, k)
}

// siblings picks the k blocks of loc's group nearest to loc's block. The
// group is sorted by address, so they are among the k on either side of
// it; sorting those 2k by distance finds them.
func (ix *index) siblings(loc Location, k int) []netip.Prefix {
	group := ix.groups[keyOf(loc.Block.Addr().Is4(), loc.Country, loc.City, loc.ISP)]
	k = min(k, len(group))
	lo, hi := rangeOf(loc.Block)
	if b := ix.blocks[loc.BlockID]; b != nil && b.first == loc.Block {
		lo, hi = b.lo, b.hi // the whole span of a block of several networks
	}
	i, _ := slices.BinarySearchFunc(group, loc.Block.Addr(), func(b *block, a netip.Addr) int {
		return b.first.Addr().Compare(a)
	})
	cands := make([]*block, 0, 2*k)
	for _, b := range group[max(0, i-k):min(len(group), i+k+1)] {
		if b.first != loc.Block {
			cands = append(cands, b)
		}
	}
	distance := func(b *block) u128 { return max128(gap(lo, b.hi), gap(b.lo, hi)) }
	slices.SortStableFunc(cands, func(a, b *block) int { return distance(a).compare(distance(b)) })
	out := make([]netip.Prefix, 0, min(k, len(cands)))
	for _, b := range cands[:min(k, len(cands))] {
		out = append(out, b.first)
	}
	return out
}

// neighbours walks the default blocks on either side of loc's address,
// nearest first, and keeps the blocks of those located like loc.
func (db *DB) neighbours(loc Location, k int) []netip.Prefix {
	base := defaultBlock(loc.Addr)
	cursor := [2]netip.Prefix{base, base} // below, above
	alive := [2]bool{true, true}
	var out []netip.Prefix
	for budget := min(maxNeighbours, neighbourBudget*min(k, maxNeighbours)); budget > 0 && len(out) < k && (alive[0] || alive[1]); {
		for side := range 2 {
			if !alive[side] || budget == 0 || len(out) == k {
				continue
			}
			if cursor[side], alive[side] = step(cursor[side], 2*side-1); !alive[side] {
				continue
			}
			budget--
			n := db.Locate(cursor[side].Addr())
			if n.Country == loc.Country && n.City == loc.City && n.ISP == loc.ISP &&
				n.Block != loc.Block && !slices.Contains(out, n.Block) {
				out = append(out, n.Block)
			}
		}
	}
	return out
}

// u128 is an address as a 128-bit number (IPv4 in its mapped form, which
// keeps differences between IPv4 addresses right).
type u128 struct{ hi, lo uint64 }

func toU128(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// addr turns u back into an address, unmapped when is4.
func (u u128) addr(is4 bool) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], u.hi)
	binary.BigEndian.PutUint64(b[8:], u.lo)
	a := netip.AddrFrom16(b)
	if is4 {
		a = a.Unmap()
	}
	return a
}

func (u u128) less(v u128) bool { return u.hi < v.hi || (u.hi == v.hi && u.lo < v.lo) }

func (u u128) compare(v u128) int {
	switch {
	case u.less(v):
		return -1
	case v.less(u):
		return 1
	}
	return 0
}

func max128(a, b u128) u128 {
	if a.less(b) {
		return b
	}
	return a
}

// gap is a-b, or 0 when b is not below a: the distance from a range ending
// at b up to one starting at a, 0 when they touch or overlap.
func gap(a, b u128) u128 {
	if !b.less(a) {
		return u128{}
	}
	lo, borrow := bits.Sub64(a.lo, b.lo, 0)
	hi, _ := bits.Sub64(a.hi, b.hi, borrow)
	return u128{hi, lo}
}

// rangeOf returns the first and last address of p as numbers.
func rangeOf(p netip.Prefix) (first, last u128) {
	first = toU128(p.Masked().Addr())
	host := p.Addr().BitLen() - p.Bits() // host bits, counted from the right
	switch {
	case host >= 128:
		return first, u128{^uint64(0), ^uint64(0)}
	case host >= 64:
		return first, u128{first.hi | (1<<(host-64) - 1), ^uint64(0)}
	default:
		return first, u128{first.hi, first.lo | (1<<host - 1)}
	}
}

// step returns the prefix of the same length right after (dir > 0) or
// right before (dir < 0) p, and false at the end of the address space.
func step(p netip.Prefix, dir int) (netip.Prefix, bool) {
	first, last := rangeOf(p)
	var next u128
	if dir > 0 {
		if last == (u128{^uint64(0), ^uint64(0)}) || (p.Addr().Is4() && last.lo == 0x0000_ffff_ffff_ffff) {
			return netip.Prefix{}, false
		}
		lo, carry := bits.Add64(last.lo, 1, 0)
		next = u128{last.hi + carry, lo}
	} else {
		if first == (u128{}) || (p.Addr().Is4() && first.lo == 0x0000_ffff_0000_0000) {
			return netip.Prefix{}, false
		}
		lo, borrow := bits.Sub64(first.lo, 1, 0)
		next = u128{first.hi - borrow, lo}
	}
	out, _ := next.addr(p.Addr().Is4()).Prefix(p.Bits()) // cannot fail: bits fit the family
	return out, true
}
