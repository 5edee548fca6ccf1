package cdnsim_test

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/internal/cdnsim"
)

// newWorld builds a world from cfg or fails the test.
func newWorld(t testing.TB, cfg cdnsim.Config) *cdnsim.World {
	t.Helper()
	w, err := cdnsim.NewWorld(cfg)
	if err != nil {
		t.Fatalf("NewWorld(%+v): %v", cfg, err)
	}
	return w
}

func TestNewWorldRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*cdnsim.Config)
		want []string
	}{
		{"one city", func(c *cdnsim.Config) { c.Cities = 1 }, []string{"cities 1"}},
		{"too many cities", func(c *cdnsim.Config) { c.Cities = 9 }, []string{"cities 9"}},
		{"too many isps", func(c *cdnsim.Config) { c.ISPs = 5 }, []string{"isps 5"}},
		{"too few subnets", func(c *cdnsim.Config) { c.Subnets = 100 }, []string{"subnets 100"}},
		{"too many subnets", func(c *cdnsim.Config) { c.Subnets = 1 << 20 }, []string{"subnets 1048576"}},
		{"negative rate", func(c *cdnsim.Config) { c.GeoErrorRate = -0.1 }, []string{"geo error rate"}},
		{"all reported", func(c *cdnsim.Config) { c.AltEdgeRate, c.SplitRate, c.ISPs = 0.9, 0.6, -1 },
			[]string{"alt edge rate", "split rate", "isps -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := cdnsim.DefaultConfig()
			tt.edit(&cfg)
			_, err := cdnsim.NewWorld(cfg)
			if err == nil {
				t.Fatalf("NewWorld(%+v) succeeded", cfg)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNewWorldFillsZeroCounts(t *testing.T) {
	t.Parallel()
	got := newWorld(t, cdnsim.Config{Seed: 7}).Config()
	d := cdnsim.DefaultConfig()
	want := cdnsim.Config{Seed: 7, Cities: d.Cities, ISPs: d.ISPs, Subnets: d.Subnets, V6Subnets: 32 * d.Cities * d.ISPs}
	if got != want {
		t.Errorf("Config() = %+v, want %+v", got, want)
	}
}

// snapshot is everything a world exposes about itself, for comparing two worlds.
type snapshot struct {
	Regions   []cdnsim.Region
	Subnets   []netip.Prefix
	Misplaced []netip.Prefix
	Domains   []cdnsim.Domain
	Blocks    map[string][]cdnsim.Block
	Truth     []netip.Addr
}

func snap(w *cdnsim.World) snapshot {
	s := snapshot{Regions: w.Regions(), Subnets: w.Subnets(), Misplaced: w.Misplaced(), Domains: w.Domains(),
		Blocks: map[string][]cdnsim.Block{}}
	for _, c := range w.CDNs() {
		s.Blocks[c.Name] = w.Blocks(c.Name)
	}
	for i, p := range s.Subnets {
		if i%97 == 0 {
			s.Truth = append(s.Truth, w.Truth("dl.cdn-c.test", 1, w.ClientIn(p, i))...)
		}
	}
	return s
}

func TestWorldIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := snap(newWorld(t, cdnsim.DefaultConfig())), snap(newWorld(t, cdnsim.DefaultConfig()))
	if !reflect.DeepEqual(a, b) {
		t.Error("two worlds from the same config differ")
	}
	cfg := cdnsim.DefaultConfig()
	cfg.Seed = 2
	c := snap(newWorld(t, cfg))
	if reflect.DeepEqual(a.Subnets, c.Subnets) || reflect.DeepEqual(a.Blocks, c.Blocks) {
		t.Error("worlds from seeds 1 and 2 are the same")
	}
}

func TestWorldLayout(t *testing.T) {
	t.Parallel()
	for _, subnets := range []int{480, 4096, 20000} {
		cfg := cdnsim.DefaultConfig()
		cfg.Subnets = subnets
		w := newWorld(t, cfg)
		regions := w.Regions()
		if got, low := len(w.Subnets()), subnets-16*len(regions); got > subnets || got < low {
			t.Errorf("Subnets=%d: world has %d /24s, want %d..%d", subnets, got, low, subnets)
		}
		checkRegions(t, w, regions)
	}
}

// checkRegions checks that the regions' prefixes are public and of the right sizes, and that
// TrueRegion agrees with them.
func checkRegions(t *testing.T, w *cdnsim.World, regions []cdnsim.Region) {
	t.Helper()
	countries := map[string]bool{}
	for _, r := range regions {
		countries[r.Country] = true
		var v6 int
		for _, p := range r.Prefixes {
			a := p.Addr()
			if a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() {
				t.Errorf("region %d owns non-public %s", r.ID, p)
			}
			if a.Is6() {
				v6++
				if want := w.Config().V6Allocs == 0; (p.Bits() == 40) != want && !want ||
					p.Bits() < 32 || p.Bits() > 40 || !netip.MustParsePrefix("2400::/16").Contains(a) {
					t.Errorf("region %d IPv6 prefix %s, want a /32../40 (a /40 by default) in 2400::/16", r.ID, p)
				}
			} else if p.Bits() < 16 || p.Bits() > 20 {
				t.Errorf("region %d allocation %s, want /16../20", r.ID, p)
			}
			if got, ok := w.TrueRegion(w.ClientIn(p, r.ID)); !ok || got.ID != r.ID {
				t.Errorf("TrueRegion(client in %s) = %d, %v; want %d", p, got.ID, ok, r.ID)
			}
		}
		if v6 < 1 || (w.Config().V6Allocs == 0 && v6 != 1) || len(r.Prefixes) < 3 {
			t.Errorf("region %d has %d prefixes (%d IPv6), want two allocations and one IPv6 allocation at least", r.ID, len(r.Prefixes), v6)
		}
	}
	if len(countries) < 2 {
		t.Errorf("world has %d countries, want 2 at least", len(countries))
	}
	checkInterleaved(t, w)
}

// checkInterleaved checks that the /24s are sorted and disjoint, and that some neighbours belong
// to different regions, so merging neighbours must respect region boundaries.
func checkInterleaved(t *testing.T, w *cdnsim.World) {
	t.Helper()
	subnets := w.Subnets()
	var touching int
	for i := 1; i < len(subnets); i++ {
		prev, cur := subnets[i-1], subnets[i]
		if cur.Bits() != 24 || u32(cur.Addr()) < u32(prev.Addr())+256 {
			t.Fatalf("subnets %s and %s out of order, overlapping or not /24s", prev, cur)
		}
		pr, _ := w.TrueRegion(prev.Addr())
		cr, _ := w.TrueRegion(cur.Addr())
		if u32(cur.Addr()) == u32(prev.Addr())+256 && pr.ID != cr.ID {
			touching++
		}
	}
	if touching == 0 {
		t.Error("no two adjacent /24s belong to different regions: regions are not interleaved")
	}
	if _, ok := w.TrueRegion(netip.MustParseAddr("8.8.8.8")); ok {
		t.Error("TrueRegion(8.8.8.8) found a region outside the world")
	}
}

// u32 converts an IPv4 address to a number.
func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func TestGeoErrors(t *testing.T) {
	t.Parallel()
	for _, rate := range []float64{0, 0.015, 0.1} {
		cfg := cdnsim.DefaultConfig()
		cfg.GeoErrorRate = rate
		w := newWorld(t, cfg)
		subnets := w.Subnets()
		misplaced := map[netip.Prefix]bool{}
		for _, p := range w.Misplaced() {
			misplaced[p] = true
		}
		if want := int(float64(len(subnets))*rate + 0.5); len(misplaced) != want {
			t.Errorf("rate %v: %d misplaced /24s of %d, want %d", rate, len(misplaced), len(subnets), want)
		}
		for i, p := range subnets {
			client := w.ClientIn(p, i)
			tr, ok1 := w.TrueRegion(client)
			gr, ok2 := w.GeoRegion(client)
			if !ok1 || !ok2 {
				t.Fatalf("rate %v: %s outside the world", rate, client)
			}
			if wrong := tr.ID != gr.ID; wrong != misplaced[p] {
				t.Errorf("rate %v: %s true region %d, geo region %d, misplaced %v", rate, client, tr.ID, gr.ID, misplaced[p])
			}
		}
	}
}

func TestBlocksPartitionTheWorld(t *testing.T) {
	t.Parallel()
	w := newWorld(t, cdnsim.DefaultConfig())
	subnets := w.Subnets()
	for _, c := range w.CDNs() {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			blocks := w.Blocks(c.Name)
			var covered []netip.Prefix
			for i, b := range blocks {
				if b.ID != i {
					t.Fatalf("block %d has ID %d", i, b.ID)
				}
				for _, p := range b.Prefixes {
					if r, ok := w.TrueRegion(p.Addr()); !ok || r.ID != b.Region {
						t.Errorf("block %d piece %s is in region %d, block says %d", b.ID, p, r.ID, b.Region)
					}
					if p.Addr().Is4() {
						covered = append(covered, p)
					}
				}
			}
			checkCover(t, covered, subnets)
		})
	}
	if w.Blocks("cdn-z") != nil {
		t.Error("Blocks(unknown) is not nil")
	}
}

// checkCover checks that the pieces cover exactly the /24s, without overlap.
func checkCover(t *testing.T, pieces, subnets []netip.Prefix) {
	t.Helper()
	held := map[uint32]int{} // first address of a /24 -> addresses of it the pieces hold
	for _, p := range pieces {
		if p.Bits() > 24 {
			held[u32(p.Addr())&^0xff] += 1 << (32 - p.Bits())
			continue
		}
		for i := range 1 << (24 - p.Bits()) {
			held[u32(p.Addr())+uint32(256*i)] += 256
		}
	}
	if len(held) != len(subnets) {
		t.Errorf("pieces touch %d /24s, the world has %d", len(held), len(subnets))
	}
	for _, s := range subnets {
		if n := held[u32(s.Addr())]; n != 256 {
			t.Errorf("pieces hold %d addresses of %s, want 256", n, s)
		}
	}
}
