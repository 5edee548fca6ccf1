package dnsmsg

import (
	"net/netip"
	"testing"
)

// TestSpecial covers every special-purpose range at its first and last address, and the public
// addresses just outside it.
func TestSpecial(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what    string
		special []string
		public  []string
	}{
		{"this network 0/8", []string{"0.0.0.0", "0.255.255.255"}, []string{"1.0.0.0"}},
		{"private 10/8", []string{"10.0.0.0", "10.255.255.255"}, []string{"9.255.255.255", "11.0.0.0"}},
		{"CGNAT 100.64/10", []string{"100.64.0.0", "100.127.255.255"}, []string{"100.63.255.255", "100.128.0.0"}},
		{"loopback 127/8", []string{"127.0.0.0", "127.0.0.1", "127.255.255.255"}, []string{"126.255.255.255", "128.0.0.0"}},
		{"link-local 169.254/16", []string{"169.254.0.0", "169.254.255.255"}, []string{"169.253.255.255", "169.255.0.0"}},
		{"private 172.16/12", []string{"172.16.0.0", "172.31.255.255"}, []string{"172.15.255.255", "172.32.0.0"}},
		{"IETF protocol assignments 192.0.0/24", []string{"192.0.0.0", "192.0.0.255"}, []string{"191.255.255.255", "192.0.1.0"}},
		{"TEST-NET-1 192.0.2/24", []string{"192.0.2.0", "192.0.2.255"}, []string{"192.0.1.255", "192.0.3.0"}},
		{"6to4 relay 192.88.99/24", []string{"192.88.99.0", "192.88.99.255"}, []string{"192.88.98.255", "192.88.100.0"}},
		{"private 192.168/16", []string{"192.168.0.0", "192.168.255.255"}, []string{"192.167.255.255", "192.169.0.0"}},
		{"benchmarking 198.18/15", []string{"198.18.0.0", "198.19.255.255"}, []string{"198.17.255.255", "198.20.0.0"}},
		{"TEST-NET-2 198.51.100/24", []string{"198.51.100.0", "198.51.100.255"}, []string{"198.51.99.255", "198.51.101.0"}},
		{"TEST-NET-3 203.0.113/24", []string{"203.0.113.0", "203.0.113.255"}, []string{"203.0.112.255", "203.0.114.0"}},
		{"multicast 224/4", []string{"224.0.0.0", "239.255.255.255"}, []string{"223.255.255.255"}},
		{"reserved 240/4 and broadcast", []string{"240.0.0.0", "255.255.255.254", "255.255.255.255"}, nil},
		{"IPv6 unspecified and loopback", []string{"::", "::1"}, nil},
		{"IPv4-compatible ::/96", []string{"::1.2.3.4", "::ffff"}, nil},
		{"IPv4-mapped ::ffff:0:0/96", []string{"::ffff:10.0.0.1", "::ffff:100.64.0.1", "::ffff:127.0.0.1", "::ffff:192.0.2.1"},
			[]string{"::ffff:1.2.3.4", "::ffff:9.255.255.255"}},
		{"NAT64 64:ff9b::/96", []string{"64:ff9b::10.1.2.3", "64:ff9b::192.168.0.1", "64:ff9b::100.64.0.1", "64:ff9b::ffff:ffff"},
			[]string{"64:ff9b::1.2.3.4", "64:ff9b::8.8.8.8"}},
		{"beside NAT64 64:ff9b::/96", []string{"64:ff9b:0:0:1::1.2.3.4", "64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff"}, nil},
		{"local-use NAT64 64:ff9b:1::/48", []string{"64:ff9b:1::1.2.3.4", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff"}, nil},
		{"discard-only 100::/64", []string{"100::", "100::ffff:ffff:ffff:ffff"}, nil},
		{"below 2000::/3", []string{"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, []string{"2000::"}},
		{"IETF protocol assignments 2001::/23", []string{"2001::", "2001:1::1", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff"},
			[]string{"2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:200::"}},
		{"Teredo 2001::/32, public IPv4s inside", []string{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:808:808::f7f7:f7f7"}, nil},
		{"benchmarking 2001:2::/48", []string{"2001:2::", "2001:2:0:ffff:ffff:ffff:ffff:ffff"}, nil},
		{"documentation 2001:db8::/32", []string{"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
			[]string{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::"}},
		{"documentation 3fff::/20", []string{"3fff::", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff"},
			[]string{"3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "3fff:1000::"}},
		{"6to4 2002::/16", []string{"2002:a00:1::1", "2002:c0a8:101::1", "2002:6440::1", "2002:7f00:1::", "2002:c000:201::1", "2002::1", "2002:ffff:ffff::"},
			[]string{"2002:102:304::1", "2002:808:808:ff00::1"}},
		{"beside 6to4", nil, []string{"2001:ffff::1", "2003::1"}},
		{"above 2000::/3", []string{"4000::", "8000::1"}, []string{"3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
		{"ULA fc00::/7", []string{"fc00::", "fd12:3456::1", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, nil},
		{"link-local fe80::/10", []string{"fe80::", "fe80::1", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, nil},
		{"site-local fec0::/10", []string{"fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, nil},
		{"multicast ff00::/8", []string{"ff00::", "ff02::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, nil},
		{"public", nil, []string{"1.2.3.4", "8.8.8.8", "223.5.5.5", "2001:da8:6290:3d00::1", "2400:3200::1", "2a00:1450::1"}},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			for _, s := range tt.special {
				a := netip.MustParseAddr(s)
				if !Special(a) {
					t.Errorf("Special(%s) = false, want true", s)
				}
				if p := Source(a); p.IsValid() {
					t.Errorf("Source(%s) = %s, want none", s, p)
				}
			}
			for _, s := range tt.public {
				a := netip.MustParseAddr(s)
				if Special(a) {
					t.Errorf("Special(%s) = true, want false", s)
				}
				if !Source(a).IsValid() {
					t.Errorf("Source(%s) is invalid, want a prefix", s)
				}
			}
		})
	}
	if !Special(netip.Addr{}) || Source(netip.Addr{}).IsValid() {
		t.Error("the zero Addr is not special")
	}
}

// TestSpecialRangesEdges walks the IPv4 table itself: each range's first and last addresses are
// special, inside the range and mapped into IPv6, 6to4 and NAT64.
func TestSpecialRangesEdges(t *testing.T) {
	t.Parallel()
	for _, r := range special4Ranges {
		first := r.first
		last := r.first | (1<<(32-r.bits) - 1)
		for _, v := range []uint32{first, last} {
			b := [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
			v4 := netip.AddrFrom4(b)
			mapped := netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: b[0], 13: b[1], 14: b[2], 15: b[3]})
			sixToFour := netip.AddrFrom16([16]byte{0: 0x20, 1: 0x02, 2: b[0], 3: b[1], 4: b[2], 5: b[3], 15: 1})
			nat64 := netip.AddrFrom16([16]byte{1: 0x64, 2: 0xff, 3: 0x9b, 12: b[0], 13: b[1], 14: b[2], 15: b[3]})
			for _, a := range []netip.Addr{v4, mapped, sixToFour, nat64} {
				if !Special(a) {
					t.Errorf("%s (%s): Special(%s) = false", r.what, v4, a)
				}
			}
		}
		if r.first&(1<<(32-r.bits)-1) != 0 {
			t.Errorf("%s: %08x is not the first address of a /%d", r.what, r.first, r.bits)
		}
	}
}

func TestSource(t *testing.T) {
	t.Parallel()
	tests := []struct{ client, want string }{
		{"1.2.3.4", "1.2.3.0/24"},
		{"::ffff:1.2.3.4", "1.2.3.0/24"},
		{"2001:da8:1:2ff::1", "2001:da8:1:200::/56"},
		{"2002:808:808:ff12::1", "2002:808:808:ff00::/56"},
		{"64:ff9b::8.8.8.8", "8.8.8.0/24"}, // NAT64 stands for its IPv4 client
		{"64:ff9b::1.2.3.4", "1.2.3.0/24"},
		{"10.1.2.3", ""},
		{"192.168.1.1", ""},
		{"127.0.0.1", ""},
		{"::1", ""},
		{"fe80::1", ""},
		{"fd00::1", ""},
		{"0.0.0.0", ""},
		{"2001:db8:1:2ff::1", ""},
	}
	for _, tt := range tests {
		got := Source(netip.MustParseAddr(tt.client))
		if (tt.want == "" && got.IsValid()) || (tt.want != "" && got.String() != tt.want) {
			t.Errorf("Source(%s) = %v, want %q", tt.client, got, tt.want)
		}
	}
	if SourceBits(netip.MustParseAddr("1.2.3.4")) != 24 || SourceBits(netip.MustParseAddr("::ffff:1.2.3.4")) != 24 ||
		SourceBits(netip.MustParseAddr("2400::1")) != 56 {
		t.Error("SourceBits: want 24 for IPv4 and IPv4-mapped, 56 for IPv6")
	}
}

// BenchmarkSource measures the privacy check a miss pays.
//
//	go test ./dnsmsg -run '^$' -bench Source -benchmem
func BenchmarkSource(b *testing.B) {
	addrs := []netip.Addr{netip.MustParseAddr("223.5.5.5"), netip.MustParseAddr("2400:3200::1"), netip.MustParseAddr("2002:808:808::1")}
	b.ReportAllocs()
	for b.Loop() {
		for _, a := range addrs {
			_ = Source(a)
		}
	}
}
