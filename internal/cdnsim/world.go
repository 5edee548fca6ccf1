package cdnsim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
)

// Region is one (city, ISP) pair and the address space it owns. Every address of the world belongs
// to exactly one region: that is the truth the CDNs route by.
type Region struct {
	// ID is the region's index in World.Regions.
	ID int
	// Country is the ISO 3166-1 alpha-2 code, e.g. "CN".
	Country string
	// City is the English city name, e.g. "Beijing".
	City string
	// ISP is the ISP's name, e.g. "Example Telecom".
	ISP string
	// ASN is the ISP's autonomous system number (from the documentation range, RFC 5398).
	ASN uint32
	// Prefixes are the region's IPv4 allocations (/16 to /20) in address order, then its IPv6
	// allocations (a /40, or /32 to /40 with Config.V6Allocs) in address order. They are shared:
	// do not modify them.
	Prefixes []netip.Prefix
}

// alloc is one IPv4 allocation of a region.
type alloc struct {
	span
	region int
	bits   int
}

// World is a synthetic Internet of cities, ISPs and CDNs: the truth every test and benchmark
// measures against. It is immutable once built and safe for concurrent use.
type World struct {
	cfg       Config
	regions   []Region
	allocs    []alloc        // IPv4 allocations sorted by address
	subnets   []netip.Prefix // every IPv4 /24, sorted
	geo       map[uint32]int // first address of a misplaced /24 -> the region the IP library says
	misplaced []netip.Prefix // the misplaced /24s, sorted

	allocs6    []alloc6       // IPv6 allocations sorted by address
	subnets6   []netip.Prefix // the /56s IPv6 clients live in, sorted
	geo6       map[uint64]int // top 64 bits of a misplaced /48 pool -> the region the IP library says
	misplaced6 []netip.Prefix // the misplaced /48 pools, sorted
	cdns       []*cdn
	domains    map[string]*domain
	ents       map[string]bool // names that exist only because names below them do (RFC 8020)
}

// NewWorld builds the world cfg describes. The same cfg always gives the same world.
func NewWorld(cfg Config) (*World, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("building world: %w", err)
	}
	w := &World{cfg: cfg}
	w.makeRegions()
	if err := w.allocate(w.rng(1)); err != nil {
		return nil, fmt.Errorf("building world: %w", err)
	}
	w.misplace(w.rng(2))
	w.allocate6(w.rng(3))
	w.populate6(w.rng(4))
	w.misplace6(w.rng(5))
	w.buildCDNs()
	w.buildDomains()
	return w, nil
}

// rng returns the random stream of one building phase, so that changing one phase leaves the
// others as they were.
func (w *World) rng(phase uint64) *rand.Rand {
	return rand.New(rand.NewPCG(w.cfg.Seed, phase))
}

// makeRegions creates one region per (city, ISP); allocate and allocate6 give them addresses.
func (w *World) makeRegions() {
	cities, isps := cityTable()[:w.cfg.Cities], ispTable()[:w.cfg.ISPs]
	n := len(cities) * len(isps)
	for i := range n {
		c, p := cities[i/len(isps)], isps[i%len(isps)]
		w.regions = append(w.regions, Region{ID: i, Country: c.country, City: c.name, ISP: p.name, ASN: p.asn})
	}
}

// allocate gives every region its share of IPv4 /24s as /16../20 allocations and lays all of them
// out in a shuffled order with occasional gaps, so regions interleave and are not contiguous.
func (w *World) allocate(r *rand.Rand) error {
	share := w.cfg.Subnets / len(w.regions) / 16 * 16
	var list []alloc
	for reg := range w.regions {
		for left := share; left >= 16; {
			bits := allocBits(r, left, share)
			list = append(list, alloc{region: reg, bits: bits})
			left -= 1 << (24 - bits)
		}
	}
	r.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
	next := uint64(spaceFirst)
	for i := range list {
		size := uint64(1) << (32 - list[i].bits)
		next = (next + size - 1) / size * size
		if r.IntN(3) == 0 {
			next += size * uint64(1+r.IntN(2))
		}
		if next+size-1 > uint64(spaceLast) {
			return fmt.Errorf("allocating %d subnets: address space exhausted", w.cfg.Subnets)
		}
		list[i].span = span{uint32(next), uint32(next + size - 1)}
		next += size
	}
	slices.SortFunc(list, func(a, b alloc) int { return int(int64(a.first) - int64(b.first)) })
	w.allocs = list
	w.indexAllocs()
	return nil
}

// allocBits draws an allocation size (as a prefix length) that fits in left /24s and in half the
// region's share, favouring small allocations.
func allocBits(r *rand.Rand, left, share int) int {
	limit := max(16, min(left, share/2))
	weights := map[int]int{20: 4, 19: 3, 18: 2, 17: 1, 16: 1}
	var choices []int
	for bits := 16; bits <= 20; bits++ {
		if 1<<(24-bits) <= limit {
			for range weights[bits] {
				choices = append(choices, bits)
			}
		}
	}
	return choices[r.IntN(len(choices))]
}

// indexAllocs fills the regions' IPv4 prefixes and the sorted list of /24s.
func (w *World) indexAllocs() {
	for _, a := range w.allocs {
		p := prefix4(a.first, a.bits)
		w.regions[a.region].Prefixes = append(w.regions[a.region].Prefixes, p)
		for s := uint64(a.first); s <= uint64(a.last); s += 256 {
			w.subnets = append(w.subnets, prefix4(uint32(s), 24))
		}
	}
}

// findAlloc returns the index of the allocation holding a, or -1.
func (w *World) findAlloc(a netip.Addr) int {
	if !a.Is4() {
		return -1
	}
	u := u32(a)
	i, _ := slices.BinarySearchFunc(w.allocs, u, func(x alloc, u uint32) int {
		switch {
		case x.last < u:
			return -1
		case x.first > u:
			return 1
		}
		return 0
	})
	if i < len(w.allocs) && w.allocs[i].first <= u && u <= w.allocs[i].last {
		return i
	}
	return -1
}

// trueRegion returns the index of the region a really belongs to, or -1 outside the world.
func (w *World) trueRegion(a netip.Addr) int {
	a = a.Unmap()
	if a.Is4() {
		if i := w.findAlloc(a); i >= 0 {
			return w.allocs[i].region
		}
		return -1
	}
	if i := w.findAlloc6(hi64(a)); i >= 0 {
		return w.allocs6[i].region
	}
	return -1
}

// geoRegion returns the index of the region the IP library puts a in, or -1 outside the world.
func (w *World) geoRegion(a netip.Addr) int {
	a = a.Unmap()
	if a.Is4() {
		if r, ok := w.geo[u32(a)&^0xff]; ok {
			return r
		}
	} else if r, ok := w.geo6[hi64(a)&^(size6(poolBits6)-1)]; ok {
		return r
	}
	return w.trueRegion(a)
}

// misplace makes the IP library wrong about round(GeoErrorRate × subnets) /24s, in runs of one to
// four adjacent /24s of one region (the way stale registry data goes wrong), each run put in
// another ISP of the same city, another city of the same ISP, or both.
func (w *World) misplace(r *rand.Rand) {
	w.geo = map[uint32]int{}
	want := int(float64(len(w.subnets))*w.cfg.GeoErrorRate + 0.5)
	for len(w.geo) < want {
		i := r.IntN(len(w.subnets))
		truth := w.trueRegion(w.subnets[i].Addr())
		wrong := w.wrongRegion(r, truth)
		prev := u32(w.subnets[i].Addr()) - 256
		for n := 1 + r.IntN(4); n > 0 && i < len(w.subnets) && len(w.geo) < want; n, i = n-1, i+1 {
			s := u32(w.subnets[i].Addr())
			if _, done := w.geo[s]; done || s != prev+256 || w.trueRegion(w.subnets[i].Addr()) != truth {
				break
			}
			w.geo[s], prev = wrong, s
		}
	}
	for s := range w.geo {
		w.misplaced = append(w.misplaced, prefix4(s, 24))
	}
	slices.SortFunc(w.misplaced, comparePrefix)
}

// wrongRegion picks the region the IP library confuses region truth with.
func (w *World) wrongRegion(r *rand.Rand, truth int) int {
	n := w.cfg.ISPs
	c, p := truth/n, truth%n
	otherISP := (p + 1 + r.IntN(n-1)) % n
	otherCity := (c + 1 + r.IntN(w.cfg.Cities-1)) % w.cfg.Cities
	switch r.IntN(3) {
	case 0:
		return c*n + otherISP
	case 1:
		return otherCity*n + p
	}
	return otherCity*n + otherISP
}

// comparePrefix orders prefixes by address, then by length.
func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
