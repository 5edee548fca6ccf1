package prober

import (
	"math/bits"
	"net/netip"
)

// Probe granularity (see the package documentation).
const (
	// unitBits4 and unitBits6 are the unit sizes: the ECS source prefixes
	// the resolver sends (docs/design.md §6.1).
	unitBits4 = 24
	unitBits6 = 56
	// maxUnitsLog4 bounds how many units one IPv4 network of the starting
	// library yields (2^16 /24s): a network wider than /8 is probed in wider
	// pieces.
	maxUnitsLog4 = 16
	// sparseBits6 is the widest IPv6 network whose /56s are all probed (16
	// of them). A wider one (an ISP's /32 holds 2^24 /56s) is never
	// enumerated: its units are the /56s clients asked from (the demand log)
	// and a bounded sample (DefaultSample6).
	sparseBits6 = 52
	// subStep is how many bits one step of probing inside a unit goes down
	// (16 pieces at most), and subLimit4/6 the finest pieces ever probed.
	subStep   = 4
	subLimit4 = 28
	subLimit6 = 64
)

// unitBitsFor returns the prefix length of the units a network of the
// starting library is probed in: its /24s (/56s), wider ones for IPv4
// networks wider than /8, and the network itself when it is already finer.
// An IPv6 unit is never wider than /56, the ECS source the resolver sends:
// an answer to a wider source says nothing about the /56s inside it when
// the CDN just echoes the source (see sparse).
func unitBitsFor(network netip.Prefix) int {
	b := network.Bits()
	if network.Addr().Is4() {
		return max(b, min(unitBits4, b+maxUnitsLog4))
	}
	return max(b, unitBits6)
}

// sparse reports whether network is too wide to probe every unit of: an
// IPv6 network wider than /52. Only its demand and sample /56s are units.
func sparse(network netip.Prefix) bool {
	return network.Addr().Is6() && network.Bits() < sparseBits6
}

// subCap returns the finest prefix length probed inside unit u.
func subCap(u netip.Prefix) int {
	limit := subLimit6
	if u.Addr().Is4() {
		limit = subLimit4
	}
	return max(u.Bits(), min(limit, u.Bits()+subStep))
}

// familyCap is the finest prefix length probed in p's address family.
func familyCap(p netip.Prefix) int {
	if p.Addr().Is4() {
		return subLimit4
	}
	return subLimit6
}

// lastAddr returns the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	p = p.Masked()
	if p.Addr().Is4() {
		a := p.Addr().As4()
		setHostBits(a[:], p.Bits())
		return netip.AddrFrom4(a)
	}
	a := p.Addr().As16()
	setHostBits(a[:], p.Bits())
	return netip.AddrFrom16(a)
}

func setHostBits(b []byte, prefixBits int) {
	for i := range b {
		lo := i * 8
		switch {
		case prefixBits <= lo:
			b[i] = 0xff
		case prefixBits < lo+8:
			b[i] |= 0xff >> (prefixBits - lo)
		}
	}
}

// pieces returns the prefixes of length bits inside p, in address order.
// bits must not be shorter than p's and not more than 16 bits longer.
func pieces(p netip.Prefix, bits int) []netip.Prefix {
	p = p.Masked()
	n := 1 << (bits - p.Bits())
	out := make([]netip.Prefix, 0, n)
	cur := netip.PrefixFrom(p.Addr(), bits)
	for range n {
		out = append(out, cur)
		next := lastAddr(cur).Next()
		if !next.IsValid() {
			break
		}
		cur = netip.PrefixFrom(next, bits)
	}
	return out
}

// ancestor returns the prefix of length bits holding p (p itself when bits
// is p's length or longer).
func ancestor(p netip.Prefix, bits int) netip.Prefix {
	if bits >= p.Bits() {
		return p
	}
	a, _ := p.Addr().Prefix(bits)
	return a
}

// cover returns the minimal list of CIDR prefixes covering the addresses
// first..last (same family, first <= last), in address order.
func cover(first, last netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for first.IsValid() && first.Compare(last) <= 0 {
		p := netip.PrefixFrom(first, first.BitLen())
		for b := 0; b <= first.BitLen(); b++ {
			q := netip.PrefixFrom(first, b)
			if q.Masked().Addr() == first && lastAddr(q).Compare(last) <= 0 {
				p = q
				break
			}
		}
		out = append(out, p)
		first = lastAddr(p).Next()
	}
	return out
}

// spreadOrder returns 0..n-1 in bit-reversed order, so that consecutive
// indices land far apart: probes of neighbouring units are sent late,
// after the replies of their far neighbours, whose wide ECS scopes may
// already have answered them.
func spreadOrder(n int) []int {
	if n <= 1 {
		return make([]int, n)
	}
	width := bits.Len(uint(n - 1))
	out := make([]int, 0, n)
	for i := range 1 << width {
		r := int(bits.Reverse(uint(i)) >> (bits.UintSize - width))
		if r < n {
			out = append(out, r)
		}
	}
	return out
}
