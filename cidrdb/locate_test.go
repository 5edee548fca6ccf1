package cidrdb

import (
	"net/netip"
	"sync"
	"testing"
)

func TestLocate(t *testing.T) {
	t.Parallel()
	withCIDR := openWorld(t, testBlocks())
	geoOnly := openWorld(t, nil)
	bjCT := func(a, block, network string, id uint32) Location {
		return Location{Addr: addr(a), Block: pfx(block), Network: pfx(network), BlockID: id,
			Country: "CN", City: "Beijing", ISP: "China Telecom", ASN: 4134}
	}
	tests := []struct {
		name string
		db   *DB
		addr netip.Addr
		want Location
	}{
		{"aligned block", withCIDR, addr("10.1.5.9"), bjCT("10.1.5.9", "10.1.4.0/22", "10.1.4.0/22", 3)},
		{"non-aligned block, first network", withCIDR, addr("10.1.1.200"), bjCT("10.1.1.200", "10.1.1.0/24", "10.1.1.0/24", 2)},
		{"non-aligned block, second network", withCIDR, addr("10.1.2.1"), bjCT("10.1.2.1", "10.1.1.0/24", "10.1.2.0/24", 2)},
		{"CIDRDB record wins over geo", withCIDR, addr("10.1.3.1"),
			Location{Addr: addr("10.1.3.1"), Block: pfx("10.1.3.0/24"), Network: pfx("10.1.3.0/24"), BlockID: 4,
				Country: "CN", City: "Shanghai", ISP: "China Telecom", ASN: 4134}},
		{"IPv4-mapped address is unmapped", withCIDR, addr("::ffff:10.1.5.9"), bjCT("10.1.5.9", "10.1.4.0/22", "10.1.4.0/22", 3)},
		{"outside the CIDRDB: geo and /24", withCIDR, addr("192.0.2.77"),
			Location{Addr: addr("192.0.2.77"), Block: pfx("192.0.2.0/24"), Network: pfx("192.0.2.0/24"),
				Country: "US", City: "Seattle", ISP: "Example Net", ASN: 64500}},
		{"IPv6 in the CIDRDB", withCIDR, addr("2001:db8:3:ab::1"), bjCT("2001:db8:3:ab::1", "2001:db8:3::/48", "2001:db8:3::/48", 7)},
		{"IPv6 outside the CIDRDB: geo and /56", withCIDR, addr("2001:db8:2:1ff::1"),
			Location{Addr: addr("2001:db8:2:1ff::1"), Block: pfx("2001:db8:2:100::/56"), Network: pfx("2001:db8:2:100::/56"),
				Country: "CN", City: "Beijing", ISP: "China Unicom", ASN: 4837}},
		{"IPv6 zone is dropped", withCIDR, addr("2001:db8:3::1%eth0"), bjCT("2001:db8:3::1", "2001:db8:3::/48", "2001:db8:3::/48", 7)},
		{"6to4 alias of an IPv4 block is not that block", withCIDR, addr("2002:a01:509::1"),
			Location{Addr: addr("2002:a01:509::1"), Block: pfx("2002:a01:509::/56"), Network: pfx("2002:a01:509::/56"),
				Country: "CN", City: "Beijing", ISP: "China Telecom", ASN: 4134}},
		{"unknown everywhere", withCIDR, addr("203.0.113.1"),
			Location{Addr: addr("203.0.113.1"), Block: pfx("203.0.113.0/24"), Network: pfx("203.0.113.0/24")}},
		{"without a CIDRDB: geo and /24", geoOnly, addr("10.1.5.9"),
			Location{Addr: addr("10.1.5.9"), Block: pfx("10.1.5.0/24"), Network: pfx("10.1.5.0/24"),
				Country: "CN", City: "Beijing", ISP: "China Telecom", ASN: 4134}},
		{"zero address", withCIDR, netip.Addr{}, Location{}},
		{"zero address without a CIDRDB", geoOnly, netip.Addr{}, Location{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.db.Locate(tt.addr); got != tt.want {
				t.Errorf("Locate(%v)\n got %+v\nwant %+v", tt.addr, got, tt.want)
			}
		})
	}
}

// TestLocateASNSchema checks the ISP role filled by an ASN-schema
// database: no `isp`, so the AS organisation names the ISP.
func TestLocateASNSchema(t *testing.T) {
	t.Parallel()
	g := mustGeo(t, world())
	db, err := Open(Config{CityPath: g.city, ISPPath: g.asn})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	got := db.Locate(addr("192.0.2.1"))
	if got.ISP != "Example Net AS" || got.ASN != 64500 || got.City != "Seattle" {
		t.Errorf("Locate = %+v, want ISP %q, ASN 64500, City Seattle", got, "Example Net AS")
	}
}

// TestLocateConcurrent runs Locate from many goroutines (under -race) and
// checks every answer against the sequential one.
func TestLocateConcurrent(t *testing.T) {
	t.Parallel()
	db := openWorld(t, testBlocks())
	addrs := []netip.Addr{addr("10.1.1.1"), addr("10.1.2.1"), addr("192.0.2.1"), addr("2001:db8:1::1"), addr("2001:db8:7::1")}
	want := make([]Location, len(addrs))
	for i, a := range addrs {
		want[i] = db.Locate(a)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				j := (g + i) % len(addrs)
				if got := db.Locate(addrs[j]); got != want[j] {
					t.Errorf("concurrent Locate(%v) = %+v, want %+v", addrs[j], got, want[j])
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestLocateAllocs holds the hot path to its promise: a CIDRDB hit
// allocates nothing.
func TestLocateAllocs(t *testing.T) {
	db := openWorld(t, testBlocks())
	a := addr("10.1.2.1")
	if n := testing.AllocsPerRun(100, func() { _ = db.Locate(a) }); n != 0 {
		t.Errorf("Locate of a CIDRDB address allocates %v times, want 0", n)
	}
}

func TestBlocks(t *testing.T) {
	t.Parallel()
	if got := openWorld(t, testBlocks()).Blocks(); got != 8 {
		t.Errorf("Blocks() = %d, want 8 (9 networks, block 2 has two)", got)
	}
	if got := openWorld(t, nil).Blocks(); got != 0 {
		t.Errorf("Blocks() without a CIDRDB = %d, want 0", got)
	}
}
