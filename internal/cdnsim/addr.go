package cdnsim

import (
	"encoding/binary"
	"hash/fnv"
	"math/bits"
	"net/netip"
)

// The world's IPv4 clients live in [spaceFirst, spaceLast]: 20.0.0.0–60.255.255.255 holds no
// private, loopback, link-local or shared (CGNAT) range, so a resolver sends ECS for all of it.
const (
	spaceFirst uint32 = 20 << 24
	spaceLast  uint32 = 61<<24 - 1
)

// v4 converts a uint32 to an IPv4 address.
func v4(u uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], u)
	return netip.AddrFrom4(b)
}

// u32 converts an IPv4 address to a uint32.
func u32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// prefix4 returns the IPv4 prefix first/bits.
func prefix4(first uint32, bits int) netip.Prefix {
	return netip.PrefixFrom(v4(first), bits)
}

// span is an inclusive range of IPv4 addresses as uint32s.
type span struct{ first, last uint32 }

// cidrs returns the smallest list of prefixes that covers s exactly, in address order. Each is the
// largest aligned prefix around its addresses that stays inside s, which is what an honest CDN
// reports as the ECS scope for a client in a block that is not CIDR-aligned.
func cidrs(s span) []netip.Prefix {
	var out []netip.Prefix
	a := uint64(s.first)
	for a <= uint64(s.last) {
		size := 32
		if a != 0 {
			size = bits.TrailingZeros32(uint32(a))
		}
		for a+(1<<size)-1 > uint64(s.last) {
			size--
		}
		out = append(out, prefix4(uint32(a), 32-size))
		a += 1 << size
	}
	return out
}

// lastAddr returns the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// ClientIn returns the i-th deterministic client address inside prefix: the host bits are filled
// from a hash of the world's seed, the prefix and i, so tests and benchmarks get spread-out clients
// that are the same in every run. IPv4 prefixes shorter than /31 never yield their first or last
// address. It returns the prefix's address when prefix is invalid or a single address.
func (w *World) ClientIn(prefix netip.Prefix, i int) netip.Addr {
	base := prefix.Masked().Addr()
	if !prefix.IsValid() || prefix.Bits() == base.BitLen() {
		return base
	}
	for try := 0; ; try++ {
		a := fillHost(prefix, hashBytes(w.cfg.Seed, prefix, i, try))
		if base.Is6() || prefix.Bits() >= 31 || (a != base && a != lastAddr(prefix)) {
			return a
		}
	}
}

// fillHost keeps prefix's network bits and takes the host bits from r.
func fillHost(prefix netip.Prefix, r [16]byte) netip.Addr {
	b := prefix.Masked().Addr().AsSlice()
	for i := range b {
		keep := byte(0)
		if n := prefix.Bits() - i*8; n >= 8 {
			keep = 0xff
		} else if n > 0 {
			keep = 0xff << (8 - n)
		}
		b[i] = b[i]&keep | r[i]&^keep
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// hashBytes returns 16 pseudo-random bytes determined by its arguments.
func hashBytes(seed uint64, p netip.Prefix, i, try int) [16]byte {
	h := fnv.New64a()
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], seed)
	h.Write(buf[:])
	pb, _ := p.MarshalBinary()
	h.Write(pb)
	binary.BigEndian.PutUint64(buf[:], uint64(i)<<8|uint64(try))
	h.Write(buf[:])
	x := h.Sum64()
	var out [16]byte
	binary.BigEndian.PutUint64(out[:8], mix64(x))
	binary.BigEndian.PutUint64(out[8:], mix64(x+1))
	return out
}

// mix64 is the splitmix64 finaliser: it spreads every input bit over the output.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
