package cdnsim

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
)

// IPv6 layout. Allocations live in space6 (2400::/16, inside APNIC's 2400::/12 and outside every
// special-purpose registry of RFC 6890, so a resolver sends ECS for them). Every IPv6 prefix the
// world deals in is /64 or shorter, so an address is placed by its top 64 bits.
const (
	space6Hi      uint64 = 0x2400 << 48 // first address of the IPv6 space, top 64 bits
	space6Bits           = 16
	clientBits6          = 56 // the ECS source prefix a resolver sends for IPv6 (RFC 7871 §11.1)
	poolBits6            = 48 // client /56s are handed out from /48 pools
	minAllocBits6        = 32
	maxAllocBits6        = 40
)

// alloc6 is one IPv6 allocation of a region, by the top 64 bits of its addresses.
type alloc6 struct {
	first, last uint64
	region      int
	bits        int
}

// hi64 returns the top 64 bits of an IPv6 address.
func hi64(a netip.Addr) uint64 {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8])
}

// prefix6 returns the IPv6 prefix whose top 64 bits are hi, of length bits (at most 64).
func prefix6(hi uint64, bits int) netip.Prefix {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	return netip.PrefixFrom(netip.AddrFrom16(b), bits).Masked()
}

// size6 is the number of top-64-bit values a prefix of length bits spans.
func size6(bits int) uint64 { return 1 << (64 - bits) }

// allocate6 lays the IPv6 allocations out in a shuffled order with occasional gaps: one /40 per
// region when Config.V6Allocs is 0, else V6Allocs allocations of /32 to /40, every region getting
// at least one.
func (w *World) allocate6(r *rand.Rand) {
	var list []alloc6
	if w.cfg.V6Allocs == 0 {
		for reg := range w.regions {
			list = append(list, alloc6{region: reg, bits: maxAllocBits6})
		}
	} else {
		for i := range w.cfg.V6Allocs {
			reg := i % len(w.regions)
			if i >= len(w.regions) {
				reg = r.IntN(len(w.regions))
			}
			list = append(list, alloc6{region: reg, bits: minAllocBits6 + r.IntN(maxAllocBits6-minAllocBits6+1)})
		}
	}
	r.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
	next := space6Hi
	for i := range list {
		size := size6(list[i].bits)
		next = (next + size - 1) / size * size
		if r.IntN(3) == 0 {
			next += size * uint64(1+r.IntN(2))
		}
		list[i].first, list[i].last = next, next+size-1
		next += size
	}
	slices.SortFunc(list, func(a, b alloc6) int { return compareU64(a.first, b.first) })
	w.allocs6 = list
	for _, a := range list {
		w.regions[a.region].Prefixes = append(w.regions[a.region].Prefixes, prefix6(a.first, a.bits))
	}
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// findAlloc6 returns the index of the IPv6 allocation holding hi, or -1.
func (w *World) findAlloc6(hi uint64) int {
	i, _ := slices.BinarySearchFunc(w.allocs6, hi, func(x alloc6, u uint64) int {
		switch {
		case x.last < u:
			return -1
		case x.first > u:
			return 1
		}
		return 0
	})
	if i < len(w.allocs6) && w.allocs6[i].first <= hi && hi <= w.allocs6[i].last {
		return i
	}
	return -1
}

// populate6 picks the /56s IPv6 clients live in (Subnets6): every allocation gets an equal share
// of Config.V6Subnets, handed out from a few /48 pools, mostly in runs of adjacent /56s with
// occasional holes, the way carriers assign prefixes to subscribers.
func (w *World) populate6(r *rand.Rand) {
	share := max(1, w.cfg.V6Subnets/len(w.allocs6))
	for _, a := range w.allocs6 {
		pools := (share + 47) / 48
		perPool := (share + pools - 1) / pools
		seen := map[uint64]bool{}
		for range pools {
			pool := a.first + uint64(r.Int64N(int64((a.last-a.first+1)/size6(poolBits6))))*size6(poolBits6)
			if seen[pool] {
				continue
			}
			seen[pool] = true
			at := uint64(r.IntN(256 - perPool))
			for n := 0; n < perPool && at < 256; at++ {
				if r.IntN(4) == 0 { // a hole: an unassigned or idle /56
					continue
				}
				w.subnets6 = append(w.subnets6, prefix6(pool+at*size6(clientBits6), clientBits6))
				n++
			}
		}
	}
	slices.SortFunc(w.subnets6, comparePrefix)
}

// misplace6 makes the IP library wrong about whole /48 pools holding about V6GeoErrorRate of the
// client /56s, each put in another ISP of the same city, another city of the same ISP, or both.
func (w *World) misplace6(r *rand.Rand) {
	w.geo6 = map[uint64]int{}
	want := int(float64(len(w.subnets6))*w.cfg.V6GeoErrorRate + 0.5)
	for moved := 0; moved < want; {
		s := w.subnets6[r.IntN(len(w.subnets6))]
		pool := hi64(s.Addr()) &^ (size6(poolBits6) - 1)
		if _, done := w.geo6[pool]; done {
			continue
		}
		w.geo6[pool] = w.wrongRegion(r, w.trueRegion(s.Addr()))
		for _, c := range w.subnets6 {
			if hi64(c.Addr())&^(size6(poolBits6)-1) == pool {
				moved++
			}
		}
	}
	for pool := range w.geo6 {
		w.misplaced6 = append(w.misplaced6, prefix6(pool, poolBits6))
	}
	slices.SortFunc(w.misplaced6, comparePrefix)
}
