package cdnsim

import (
	"math/rand/v2"
	"net/netip"
	"slices"
)

// CDN describes one simulated CDN provider.
type CDN struct {
	// Name is the provider's name, e.g. "cdn-a"; its domains live under Name + ".test".
	Name string
	// Honest reports whether replies carry the true ECS scope (the prefix length of the CIDR
	// piece of the block holding the client); otherwise they echo the source prefix length.
	Honest bool
	// Layout says how the provider cuts the address space, e.g. "aligned /20".
	Layout string
}

// Block is one block of a CDN's partition of the world: every client in it gets the same edge.
type Block struct {
	// ID is the block's index in World.Blocks for its CDN.
	ID int
	// Region is the ID of the region holding the block; blocks never cross regions.
	Region int
	// Edge is the edge site the block is routed to. Blocks with equal Edge get equal answers for
	// every name of the CDN; the default site (for clients without ECS or outside the world) is
	// not any block's.
	Edge int
	// Prefixes is the smallest CIDR cover of the block, in address order. A block that is not
	// CIDR-aligned (a run of /24s, or a /24 with a /26 hole) has several.
	Prefixes []netip.Prefix
}

// cdnSpec is how one provider cuts the world.
type cdnSpec struct {
	CDN
	blockBits      int // aligned blocks of this prefix length; 0 for runs
	minRun, maxRun int // runs of this many /24s when blockBits is 0
	splits         bool
	v6Bits         int // IPv6: aligned blocks of this prefix length
	v6Split        int // IPv6: a few blocks are cut into pieces of this length (0: none)
}

// cdnSpecs lists the providers of every world.
func cdnSpecs() []cdnSpec {
	return []cdnSpec{
		{CDN: CDN{Name: "cdn-a", Honest: true, Layout: "aligned /20; IPv6 /44"}, blockBits: 20, v6Bits: 44},
		{CDN: CDN{Name: "cdn-b", Honest: false, Layout: "aligned /22; IPv6 /40, some cut into /48s"}, blockBits: 22, v6Bits: 40, v6Split: 48},
		{CDN: CDN{Name: "cdn-c", Honest: true, Layout: "aligned /21, some /24s cut into /26s; IPv6 /40, some cut into /56s"}, blockBits: 21, splits: true, v6Bits: 40, v6Split: 56},
		{CDN: CDN{Name: "cdn-d", Honest: true, Layout: "runs of 1-12 /24s; IPv6 /48"}, minRun: 1, maxRun: 12, v6Bits: 48},
		{CDN: CDN{Name: "cdn-e", Honest: false, Layout: "runs of 2-9 /24s; IPv6 /44, some cut into /52s"}, minRun: 2, maxRun: 9, v6Bits: 44, v6Split: 52},
	}
}

// Edge sites: region r has its main site sitesPerRegion*r and alternates right after it.
const sitesPerRegion = 3

// piece is one CIDR piece of a block.
type piece struct {
	prefix netip.Prefix
	block  int
}

// labelled is a range of addresses and the block it belongs to.
type labelled struct {
	span
	block int
}

// cdn is one provider's partition of the world.
type cdn struct {
	cdnSpec
	index       int
	blocks      []Block
	pieces      []piece // every IPv4 piece, sorted by address
	defaultEdge int
	seed        uint64 // makes the IPv6 blocks (route6)
}

// buildCDNs partitions the world for every provider, each from its own random stream.
func (w *World) buildCDNs() {
	for i, spec := range cdnSpecs() {
		c := &cdn{cdnSpec: spec, index: i, defaultEdge: sitesPerRegion * len(w.regions), seed: mix64(w.cfg.Seed<<8 | uint64(i))}
		r := w.rng(100 + uint64(i))
		var ranges []labelled
		for _, a := range w.allocs {
			for _, s := range c.cut(r, a.span) {
				ranges = append(ranges, labelled{s, c.newBlock(a.region, w.pickEdge(r, a.region))})
			}
		}
		if c.splits {
			ranges = c.split(r, w, ranges)
		}
		c.index4(ranges)
		c.renumber()
		w.cdns = append(w.cdns, c)
	}
}

// cut splits an allocation into the provider's blocks: aligned prefixes or runs of /24s.
func (c *cdn) cut(r *rand.Rand, s span) []span {
	var out []span
	for next := uint64(s.first); next <= uint64(s.last); {
		size := uint64(1) << (32 - c.blockBits)
		if c.blockBits == 0 {
			size = uint64(256 * (c.minRun + r.IntN(c.maxRun-c.minRun+1)))
		}
		end := min(next+size-1, uint64(s.last))
		out = append(out, span{uint32(next), uint32(end)})
		next = end + 1
	}
	return out
}

// newBlock adds an empty block and returns its ID.
func (c *cdn) newBlock(region, edge int) int {
	c.blocks = append(c.blocks, Block{ID: len(c.blocks), Region: region, Edge: edge})
	return len(c.blocks) - 1
}

// pickEdge routes a new block of region: mostly to the region's main site, with probability
// AltEdgeRate to one of its alternates.
func (w *World) pickEdge(r *rand.Rand, region int) int {
	main := sitesPerRegion * region
	if r.Float64() < w.cfg.AltEdgeRate {
		return main + 1 + r.IntN(sitesPerRegion-1)
	}
	return main
}

// split cuts SplitRate of the /24s into four /26s: at least one of them goes to a new block on
// another site of the region, the rest stay in the surrounding block (which then has a hole).
func (c *cdn) split(r *rand.Rand, w *World, in []labelled) []labelled {
	var out []labelled
	for _, l := range in {
		start := l.first
		for s := uint64(l.first); s < uint64(l.last); s += 256 {
			if r.Float64() >= w.cfg.SplitRate {
				continue
			}
			if uint32(s) > start {
				out = append(out, labelled{span{start, uint32(s) - 1}, l.block})
			}
			out = append(out, c.splitOne(r, uint32(s), l.block)...)
			start = uint32(s) + 256
		}
		if start-1 != l.last {
			out = append(out, labelled{span{start, l.last}, l.block})
		}
	}
	return out
}

// splitOne returns the four /26s of the /24 at first, labelled with the parent block or a new one.
func (c *cdn) splitOne(r *rand.Rand, first uint32, parent int) []labelled {
	p := c.blocks[parent]
	site := p.Edge - p.Edge%sitesPerRegion + (p.Edge%sitesPerRegion+1+r.IntN(sitesPerRegion-1))%sitesPerRegion
	child := c.newBlock(p.Region, site)
	pattern := 1 + r.IntN(14) // four bits, neither all parent nor all child
	out := make([]labelled, 4)
	for q := range 4 {
		b := parent
		if pattern&(8>>q) != 0 {
			b = child
		}
		out[q] = labelled{span{first + uint32(64*q), first + uint32(64*q+63)}, b}
	}
	return out
}

// index4 merges adjacent ranges of one block, cuts them into CIDR pieces and fills the blocks'
// prefixes and the sorted piece list.
func (c *cdn) index4(ranges []labelled) {
	for i := 0; i < len(ranges); {
		j, l := i+1, ranges[i]
		for ; j < len(ranges) && ranges[j].block == l.block && ranges[j].first == l.last+1; j++ {
			l.last = ranges[j].last
		}
		for _, p := range cidrs(l.span) {
			c.pieces = append(c.pieces, piece{p, l.block})
			c.blocks[l.block].Prefixes = append(c.blocks[l.block].Prefixes, p)
		}
		i = j
	}
}

// renumber sorts the blocks by their first address and makes every ID its block's index.
func (c *cdn) renumber() {
	slices.SortFunc(c.blocks, func(a, b Block) int { return comparePrefix(a.Prefixes[0], b.Prefixes[0]) })
	newID := make([]int, len(c.blocks))
	for i := range c.blocks {
		newID[c.blocks[i].ID] = i
		c.blocks[i].ID = i
	}
	for i := range c.pieces {
		c.pieces[i].block = newID[c.pieces[i].block]
	}
}

// find returns the IPv4 piece holding a.
func (c *cdn) find(a netip.Addr) (piece, bool) {
	list := c.pieces
	i, found := slices.BinarySearchFunc(list, a, func(p piece, a netip.Addr) int {
		return p.prefix.Addr().Compare(a)
	})
	if !found {
		i--
	}
	if i >= 0 && list[i].prefix.Contains(a) {
		return list[i], true
	}
	return piece{}, false
}

// edge4 and edge6 return address host of a site: the provider's IPv4 space is (61+index).0.0.0/8,
// one /24 a site; its IPv6 space is 2001:db8:f0ii::/48, one /64 a site.
func (c *cdn) edge4(site, host int) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(61 + c.index), byte(site >> 8), byte(site), byte(host)})
}

func (c *cdn) edge6(site, host int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xf0, byte(c.index), byte(site >> 8), byte(site),
		14: byte(host >> 8), 15: byte(host)})
}

// v6SplitRate is the fraction of a provider's IPv6 blocks cut into pieces (cdnSpec.v6Split).
const v6SplitRate = 0.1

// route6 returns the edge site and the honest ECS scope for the IPv6 address whose top 64 bits are
// hi, inside an allocation of region. IPv6 blocks are too many to list (a /32 holds 65,536 /48s),
// so they are a function of the address: the aligned /v6Bits around it is a block routed to the
// region's main site, or with probability AltEdgeRate to an alternate; v6SplitRate of the blocks
// are cut into /v6Split pieces, each of which goes to the block's site or another one at random,
// and report the piece's length as their scope.
func (c *cdn) route6(hi uint64, region int, altRate float64) (site, scope int) {
	base := hi &^ (size6(c.v6Bits) - 1)
	h := mix64(c.seed ^ base)
	main := sitesPerRegion * region
	site = main
	if unit(h) < altRate {
		site = main + 1 + int(h>>32)%(sitesPerRegion-1)
	}
	if c.v6Split == 0 || unit(mix64(h)) >= v6SplitRate {
		return site, c.v6Bits
	}
	p := hi &^ (size6(c.v6Split) - 1)
	if hp := mix64(c.seed ^ p ^ 0x5eed); hp&1 == 1 {
		site = main + (site-main+1+int(hp>>33)%(sitesPerRegion-1))%sitesPerRegion
	}
	return site, c.v6Split
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }
