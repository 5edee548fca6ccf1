package cdnsim

import (
	"net/netip"
	"slices"
	"strings"
)

// Config returns the configuration the world was built from, defaults filled in.
func (w *World) Config() Config { return w.cfg }

// Domains returns every name of the world, sorted by name.
func (w *World) Domains() []Domain {
	out := make([]Domain, 0, len(w.domains))
	for _, d := range w.domains {
		out = append(out, d.Domain)
	}
	slices.SortFunc(out, func(a, b Domain) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Regions returns every (city, ISP) region, indexed by Region.ID.
func (w *World) Regions() []Region {
	out := slices.Clone(w.regions)
	for i := range out {
		out[i].Prefixes = slices.Clone(out[i].Prefixes)
	}
	return out
}

// Subnets returns every IPv4 /24 of the world, sorted.
func (w *World) Subnets() []netip.Prefix { return slices.Clone(w.subnets) }

// Subnets6 returns the /56s IPv6 clients live in, sorted. The rest of the IPv6 allocations is
// routed all the same, but a workload draws its IPv6 clients from these.
func (w *World) Subnets6() []netip.Prefix { return slices.Clone(w.subnets6) }

// Misplaced6 returns the IPv6 /48 pools the IP library puts in the wrong region, sorted: exactly
// where GeoRegion differs from TrueRegion for IPv6.
func (w *World) Misplaced6() []netip.Prefix { return slices.Clone(w.misplaced6) }

// Misplaced returns the IPv4 /24s the IP library puts in the wrong region, sorted: exactly the
// /24s where GeoRegion differs from TrueRegion.
func (w *World) Misplaced() []netip.Prefix { return slices.Clone(w.misplaced) }

// TrueRegion returns the region addr really belongs to, which is what the CDNs route by. ok is
// false outside the world. The returned Prefixes are shared: do not modify them.
func (w *World) TrueRegion(addr netip.Addr) (r Region, ok bool) {
	return w.region(w.trueRegion(addr))
}

// GeoRegion returns the region the IP library (the databases WriteGeoDBs writes) puts addr in;
// it differs from TrueRegion on the Misplaced /24s. ok is false outside the world. The returned
// Prefixes are shared: do not modify them.
func (w *World) GeoRegion(addr netip.Addr) (r Region, ok bool) {
	return w.region(w.geoRegion(addr))
}

// region returns region i, or false for -1.
func (w *World) region(i int) (Region, bool) {
	if i < 0 {
		return Region{}, false
	}
	return w.regions[i], true
}

// CDNs returns the world's CDN providers.
func (w *World) CDNs() []CDN {
	out := make([]CDN, len(w.cdns))
	for i, c := range w.cdns {
		out[i] = c.CDN
	}
	return out
}

// Blocks returns the true IPv4 partition of the world by the CDN named cdnName (e.g. "cdn-a"),
// blocks in address order; nil for an unknown CDN. Later tools compare what they learn by probing
// with this. IPv6 blocks are too many to list: Block6 gives the one around an address.
func (w *World) Blocks(cdnName string) []Block {
	for _, c := range w.cdns {
		if c.Name != cdnName {
			continue
		}
		out := slices.Clone(c.blocks)
		for i := range out {
			out[i].Prefixes = slices.Clone(out[i].Prefixes)
		}
		return out
	}
	return nil
}

// Block6 returns the IPv6 block of the CDN named cdnName around addr: the finest prefix of the
// provider's layout holding it (what an honest provider reports as the scope) and its edge site.
// ok is false for an unknown CDN or an address outside the world's IPv6 allocations.
func (w *World) Block6(cdnName string, addr netip.Addr) (block netip.Prefix, edge int, ok bool) {
	if !addr.Is6() || addr.Is4In6() {
		return netip.Prefix{}, 0, false
	}
	i := w.findAlloc6(hi64(addr))
	for _, c := range w.cdns {
		if c.Name == cdnName && i >= 0 {
			site, bits := c.route6(hi64(addr), w.allocs6[i].region, w.cfg.AltEdgeRate)
			return prefix6(hi64(addr), bits), site, true
		}
	}
	return netip.Prefix{}, 0, false
}
