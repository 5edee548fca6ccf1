package cdnsim_test

import (
	"net/netip"
	"testing"

	"github.com/httpdns/httpdns/internal/cdnsim"
)

func TestCDNLayouts(t *testing.T) {
	t.Parallel()
	w := newWorld(t, cdnsim.DefaultConfig())
	tests := []struct {
		cdn           string
		honest        bool
		minBits       int  // shortest IPv4 piece
		maxBits       int  // longest IPv4 piece
		wantUnaligned bool // some block needs several prefixes
	}{
		{"cdn-a", true, 20, 20, false},
		{"cdn-b", false, 22, 22, false},
		{"cdn-c", true, 21, 26, true},
		{"cdn-d", true, 20, 24, true},
		{"cdn-e", false, 20, 24, true},
	}
	cdns := map[string]cdnsim.CDN{}
	for _, c := range w.CDNs() {
		cdns[c.Name] = c
	}
	if len(cdns) != len(tests) {
		t.Fatalf("world has %d CDNs, want %d", len(cdns), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.cdn, func(t *testing.T) {
			t.Parallel()
			if c := cdns[tt.cdn]; c.Honest != tt.honest || c.Layout == "" {
				t.Errorf("CDN = %+v, want honest %v and a layout", c, tt.honest)
			}
			blocks := w.Blocks(tt.cdn)
			lo, hi, unaligned := 32, 0, false
			for _, b := range blocks {
				unaligned = unaligned || len(b.Prefixes) > 1
				for _, p := range b.Prefixes {
					if !p.Addr().Is4() {
						t.Errorf("IPv6 block %+v listed", b)
					}
					lo, hi = min(lo, p.Bits()), max(hi, p.Bits())
				}
			}
			if lo < tt.minBits || hi > tt.maxBits || (tt.minBits == tt.maxBits && lo != hi) {
				t.Errorf("pieces from /%d to /%d, want /%d to /%d", lo, hi, tt.minBits, tt.maxBits)
			}
			if tt.cdn == "cdn-c" && hi != 26 {
				t.Errorf("no /24 of cdn-c is split into /26s (longest piece /%d)", hi)
			}
			if unaligned != tt.wantUnaligned {
				t.Errorf("some block unaligned = %v, want %v", unaligned, tt.wantUnaligned)
			}
			checkEdges(t, w, blocks)
		})
	}
}

// checkEdges checks that edges follow regions: no two regions share an edge, every region's blocks
// mostly share one, and somewhere a region's blocks go to different edges.
func checkEdges(t *testing.T, w *cdnsim.World, blocks []cdnsim.Block) {
	t.Helper()
	edgeRegion := map[int]int{}
	regionEdges := map[int]map[int]int{}
	for _, b := range blocks {
		if r, seen := edgeRegion[b.Edge]; seen && r != b.Region {
			t.Fatalf("edge %d serves regions %d and %d", b.Edge, r, b.Region)
		}
		edgeRegion[b.Edge] = b.Region
		if regionEdges[b.Region] == nil {
			regionEdges[b.Region] = map[int]int{}
		}
		regionEdges[b.Region][b.Edge]++
	}
	mixed := 0
	for _, edges := range regionEdges {
		if len(edges) > 1 {
			mixed++
		}
	}
	if mixed == 0 || len(regionEdges) != len(w.Regions()) {
		t.Errorf("%d of %d regions have blocks on several edges, want some but not none", mixed, len(regionEdges))
	}
}

func TestAltEdgeRateZeroMakesRegionsUniform(t *testing.T) {
	t.Parallel()
	cfg := cdnsim.DefaultConfig()
	cfg.AltEdgeRate, cfg.SplitRate = 0, 0
	w := newWorld(t, cfg)
	for _, c := range w.CDNs() {
		edges := map[int]int{}
		for _, b := range w.Blocks(c.Name) {
			if e, seen := edges[b.Region]; seen && e != b.Edge {
				t.Fatalf("%s: region %d has edges %d and %d with no alternates configured", c.Name, b.Region, e, b.Edge)
			}
			edges[b.Region] = b.Edge
		}
	}
}

func TestClientIn(t *testing.T) {
	t.Parallel()
	w := newWorld(t, cdnsim.DefaultConfig())
	tests := []struct {
		prefix string
		spread bool
	}{
		{"20.0.32.0/24", true},
		{"20.0.32.0/20", true},
		{"20.0.32.64/26", true},
		{"2400:0:200::/40", true},
		{"20.0.32.7/32", false},
		{"20.0.32.6/31", false},
	}
	for _, tt := range tests {
		p := netip.MustParsePrefix(tt.prefix)
		seen := map[netip.Addr]bool{}
		for i := range 20 {
			a := w.ClientIn(p, i)
			if a != w.ClientIn(p, i) || !p.Contains(a) {
				t.Fatalf("ClientIn(%s, %d) = %s: not stable or outside", p, i, a)
			}
			if p.Addr().Is4() && p.Bits() < 31 && (a == p.Addr() || a.Next() == netip.Addr{} || !p.Contains(a.Next())) {
				t.Errorf("ClientIn(%s, %d) = %s, the first or last address", p, i, a)
			}
			seen[a] = true
		}
		if tt.spread && len(seen) < 10 {
			t.Errorf("ClientIn(%s, 0..19) gave %d distinct addresses", p, len(seen))
		}
	}
}
