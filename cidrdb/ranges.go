package cidrdb

import (
	"math"
	"math/bits"
	"net/netip"
)

// Address ranges as numbers: IPv4 addresses in their mapped form
// (::ffff:a.b.c.d), so that both families sort in one space, IPv4 below
// every IPv6 address outside ::/8. Building and diffing CIDRDBs work on
// ranges rather than addresses, so their cost follows the number of
// networks, not of addresses.

// span is an address range [lo, hi] (IPv4 in its mapped form) carrying the
// index of a value.
type span struct {
	lo, hi u128
	v      int32
}

// mappedSpan is the range of ::ffff:0:0/96, where IPv4 addresses sit.
func mappedSpan() span {
	lo, hi := rangeOf(netip.MustParsePrefix("::ffff:0:0/96"))
	return span{lo: lo, hi: hi}
}

// overlay walks the pieces that two sorted lists of spans cut the address
// space into, in address order, calling fn for each piece covered by at
// least one of them with the values of the spans covering it (-1 for
// none). A span that overlaps an earlier one of its list loses the part
// already covered.
func overlay(a, b []span, fn func(lo, hi u128, va, vb int32)) {
	var pos u128 // first address not yet walked
	i, j := 0, 0
	for {
		for i < len(a) && a[i].hi.less(pos) {
			i++
		}
		for j < len(b) && b[j].hi.less(pos) {
			j++
		}
		if i == len(a) && j == len(b) {
			return
		}
		lo, hi := lastAddr(), lastAddr()
		if i < len(a) {
			lo = min128(lo, max128(a[i].lo, pos))
		}
		if j < len(b) {
			lo = min128(lo, max128(b[j].lo, pos))
		}
		va, vb := int32(-1), int32(-1)
		if i < len(a) {
			va, hi = clipTo(a[i], lo, hi)
		}
		if j < len(b) {
			vb, hi = clipTo(b[j], lo, hi)
		}
		fn(lo, hi, va, vb)
		next, ok := hi.inc()
		if !ok {
			return
		}
		pos = next
	}
}

// clipTo returns s's value if s covers lo (else -1) and hi lowered to
// where the piece starting at lo must end because of s.
func clipTo(s span, lo, hi u128) (int32, u128) {
	if !lo.less(s.lo) { // s covers lo: the piece ends with s at the latest
		return s.v, min128(hi, s.hi)
	}
	return -1, min128(hi, s.lo.dec()) // the piece ends before s starts
}

// rangePrefixes returns the fewest prefixes that cover [lo, hi] exactly,
// in address order.
func rangePrefixes(lo, hi u128, is4 bool) []netip.Prefix {
	width := 128
	if is4 {
		width = 32
	}
	var out []netip.Prefix
	for {
		d := hi.sub(lo) // the range holds d+1 addresses
		k := d.bitLen()
		if mask(k) != d {
			k-- // 2^k addresses fit, 2^(k+1) do not
		}
		host := min(lo.trailingZeros(), k, width)
		out = append(out, netip.PrefixFrom(lo.addr(is4), width-host))
		end := lo.or(mask(host))
		if !end.less(hi) {
			return out
		}
		lo, _ = end.inc()
	}
}

// lastAddr is the last IPv6 address as a number.
func lastAddr() u128 { return u128{^uint64(0), ^uint64(0)} }

// isMapped4 reports whether u is an IPv4 address (in ::ffff:0:0/96).
func isMapped4(u u128) bool { return u.hi == 0 && u.lo>>32 == 0xffff }

// mask has the low host bits set, 0 <= host <= 128.
func mask(host int) u128 {
	switch {
	case host >= 128:
		return lastAddr()
	case host >= 64:
		return u128{1<<(host-64) - 1, ^uint64(0)}
	}
	return u128{0, 1<<host - 1}
}

func (u u128) and(v u128) u128 { return u128{u.hi & v.hi, u.lo & v.lo} }
func (u u128) or(v u128) u128  { return u128{u.hi | v.hi, u.lo | v.lo} }
func (u u128) not() u128       { return u128{^u.hi, ^u.lo} }

// sub returns u-v; v must not exceed u.
func (u u128) sub(v u128) u128 {
	lo, borrow := bits.Sub64(u.lo, v.lo, 0)
	hi, _ := bits.Sub64(u.hi, v.hi, borrow)
	return u128{hi, lo}
}

// rsh shifts u right by n bits, 0 <= n.
func (u u128) rsh(n int) u128 {
	switch {
	case n >= 128:
		return u128{}
	case n >= 64:
		return u128{0, u.hi >> (n - 64)}
	case n == 0:
		return u
	}
	return u128{u.hi >> n, u.lo>>n | u.hi<<(64-n)}
}

// inc returns u+1, and false when u is the last address.
func (u u128) inc() (u128, bool) {
	lo, carry := bits.Add64(u.lo, 1, 0)
	hi, over := bits.Add64(u.hi, 0, carry)
	return u128{hi, lo}, over == 0
}

// dec returns u-1; u must not be 0.
func (u u128) dec() u128 { return u.sub(u128{0, 1}) }

func (u u128) trailingZeros() int {
	if u.lo != 0 {
		return bits.TrailingZeros64(u.lo)
	}
	if u.hi != 0 {
		return 64 + bits.TrailingZeros64(u.hi)
	}
	return 128
}

func (u u128) bitLen() int {
	if u.hi != 0 {
		return 64 + bits.Len64(u.hi)
	}
	return bits.Len64(u.lo)
}

// sat64 is u, or the largest uint64 when u does not fit.
func (u u128) sat64() uint64 {
	if u.hi != 0 {
		return math.MaxUint64
	}
	return u.lo
}

func min128(a, b u128) u128 {
	if b.less(a) {
		return b
	}
	return a
}

func satAdd(a, b uint64) uint64 {
	if s, carry := bits.Add64(a, b, 0); carry == 0 {
		return s
	}
	return math.MaxUint64
}
