package cidrdb

import (
	"math"
	"net/netip"
	"slices"
	"testing"
)

func TestSiblings(t *testing.T) {
	t.Parallel()
	withCIDR := openWorld(t, testBlocks())
	geoOnly := openWorld(t, nil)
	prefixes := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, pfx(s))
		}
		return out
	}
	tests := []struct {
		name string
		db   *DB
		addr string
		k    int
		want []netip.Prefix
	}{
		// Block 2 spans 10.1.1.0-10.1.2.255: block 1 touches it, block 3
		// is 257 addresses above, block 5 far below; block 4 is Shanghai.
		{"CIDRDB, nearest first", withCIDR, "10.1.1.9", 10, prefixes("10.1.0.0/24", "10.1.4.0/22", "10.0.200.0/24")},
		{"CIDRDB, same answer from the block's other network", withCIDR, "10.1.2.9", 10, prefixes("10.1.0.0/24", "10.1.4.0/22", "10.0.200.0/24")},
		{"CIDRDB, k limits", withCIDR, "10.1.1.9", 2, prefixes("10.1.0.0/24", "10.1.4.0/22")},
		{"CIDRDB, from the lowest block", withCIDR, "10.0.200.1", 1, prefixes("10.1.0.0/24")},
		{"CIDRDB, alone in its city", withCIDR, "10.1.3.1", 5, nil},
		{"CIDRDB, IPv6 stays IPv6", withCIDR, "2001:db8:3::1", 5, prefixes("2001:db8:1::/48", "2001:db8:9::/48")},
		{"outside the CIDRDB, neighbours may be CIDRDB blocks", withCIDR, "10.1.8.1", 2, prefixes("10.1.4.0/22", "10.1.9.0/24")},
		{"no CIDRDB, skips another city", geoOnly, "10.2.4.7", 3, prefixes("10.2.3.0/24", "10.2.2.0/24", "10.2.6.0/24")},
		{"no CIDRDB, IPv6 /56 neighbours", geoOnly, "2001:db8:0:100::1", 2, prefixes("2001:db8::/56", "2001:db8:0:200::/56")},
		{"no CIDRDB, top of the address space", geoOnly, "255.255.255.1", 2, prefixes("255.255.254.0/24", "255.255.253.0/24")},
		// 10.3.10.0/24 is Guangzhou inside Xian; the next Guangzhou /24 is
		// 10.3.13.0/24, the 6th neighbour looked at.
		{"no CIDRDB, budget of 4k neighbours too small", geoOnly, "10.3.10.1", 1, nil},
		{"no CIDRDB, budget of 4k neighbours enough", geoOnly, "10.3.10.1", 2, prefixes("10.3.13.0/24")},
		{"unknown location has no siblings", geoOnly, "203.0.113.1", 3, nil},
		{"k of zero", withCIDR, "10.1.1.9", 0, nil},
		{"huge k, CIDRDB", withCIDR, "10.1.1.9", math.MaxInt, prefixes("10.1.0.0/24", "10.1.4.0/22", "10.0.200.0/24")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			loc := tt.db.Locate(addr(tt.addr))
			got := tt.db.Siblings(loc, tt.k)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Siblings(%v, %d) = %v, want %v", loc, tt.k, got, tt.want)
			}
			if slices.Contains(got, loc.Block) {
				t.Errorf("Siblings includes the block itself")
			}
		})
	}
}

// TestSiblingsHugeK checks that a huge k neither panics nor scans the
// address space: the neighbour search stops after maxNeighbours lookups.
func TestSiblingsHugeK(t *testing.T) {
	t.Parallel()
	db := openWorld(t, nil)
	loc := db.Locate(addr("255.255.250.1"))
	got := db.Siblings(loc, math.MaxInt)
	// Every other /24 of 255.255.0.0/16 is Edge; below it nothing is, and
	// the search gives up maxNeighbours lookups later.
	if len(got) != 255 || got[0] != pfx("255.255.249.0/24") || got[1] != pfx("255.255.251.0/24") {
		t.Errorf("Siblings = %d blocks starting %v, want the 255 other /24s of 255.255.0.0/16, nearest first", len(got), got[:min(2, len(got))])
	}
	if got := db.Siblings(Location{}, 3); got != nil {
		t.Errorf("Siblings of the zero Location = %v, want none", got)
	}
}

func TestSiblingsBottomOfAddressSpace(t *testing.T) {
	t.Parallel()
	db, err := Open(func() Config {
		g := mustGeo(t, []geo{{"0.0.0.0/16", "ZZ", "Zero", "Zero ISP", 1}, {"::/16", "ZZ", "Zero", "Zero ISP", 1}})
		return Config{CityPath: g.city, ISPPath: g.isp}
	}())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	for _, tt := range []struct {
		addr string
		want []netip.Prefix
	}{
		{"0.0.0.9", []netip.Prefix{pfx("0.0.1.0/24"), pfx("0.0.2.0/24")}},
		{"::9", []netip.Prefix{pfx("0:0:0:100::/56"), pfx("0:0:0:200::/56")}},
	} {
		loc := db.Locate(addr(tt.addr))
		if got := db.Siblings(loc, 2); !slices.Equal(got, tt.want) {
			t.Errorf("Siblings(%v) = %v, want %v", loc, got, tt.want)
		}
	}
}

func TestStep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		dir  int
		want string // "" when there is no next prefix
	}{
		{"10.0.0.0/24", 1, "10.0.1.0/24"},
		{"10.0.0.0/24", -1, "9.255.255.0/24"},
		{"0.0.0.0/24", -1, ""},
		{"255.255.255.0/24", 1, ""},
		{"0.0.0.0/0", 1, ""},
		{"2001:db8::/56", 1, "2001:db8:0:100::/56"},
		{"2001:db8::/56", -1, "2001:db7:ffff:ff00::/56"},
		{"::/56", -1, ""},
		{"ffff:ffff:ffff:ff00::/56", 1, ""},
		{"2001:db8::ffff:ffff:ffff:ff00/120", 1, "2001:db8:0:1::/120"},
		{"2001:db8:0:1::/120", -1, "2001:db8::ffff:ffff:ffff:ff00/120"},
	}
	for _, tt := range tests {
		got, ok := step(pfx(tt.in), tt.dir)
		if tt.want == "" {
			if ok {
				t.Errorf("step(%s, %d) = %v, want none", tt.in, tt.dir, got)
			}
			continue
		}
		if !ok || got != pfx(tt.want) {
			t.Errorf("step(%s, %d) = %v, %v; want %s", tt.in, tt.dir, got, ok, tt.want)
		}
	}
}

func TestGap(t *testing.T) {
	t.Parallel()
	_, hiA := rangeOf(pfx("10.0.0.0/24"))
	loB, _ := rangeOf(pfx("10.0.1.0/24"))
	loC, _ := rangeOf(pfx("10.0.5.0/24"))
	if g := gap(loB, hiA); g != (u128{0, 1}) {
		t.Errorf("gap between adjacent /24s = %v, want 1", g)
	}
	if g := gap(loC, hiA); g != (u128{0, 4*256 + 1}) {
		t.Errorf("gap = %v, want %d", g, 4*256+1)
	}
	if g := gap(hiA, loB); g != (u128{}) {
		t.Errorf("gap of overlapping order = %v, want 0", g)
	}
	_, hi6 := rangeOf(pfx("2001:db8::/64"))
	lo6, _ := rangeOf(pfx("2001:db8:0:1::/64"))
	if g := gap(lo6, hi6); g != (u128{0, 1}) {
		t.Errorf("gap across the 64-bit halves = %v, want 1", g)
	}
	if _, hi := rangeOf(pfx("::/0")); hi != (u128{^uint64(0), ^uint64(0)}) {
		t.Errorf("last of ::/0 = %v", hi)
	}
}
