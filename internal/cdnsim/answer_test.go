package cdnsim_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/httpdns/httpdns/internal/cdnsim"
)

// findBlock returns the first block of cdn that ok accepts, or fails the test.
func findBlock(t *testing.T, w *cdnsim.World, cdn string, ok func(cdnsim.Block) bool) cdnsim.Block {
	t.Helper()
	for _, b := range w.Blocks(cdn) {
		if ok(b) {
			return b
		}
	}
	t.Fatalf("%s has no block of the kind the test needs", cdn)
	return cdnsim.Block{}
}

// pfx returns p as a prefix of bits around its address.
func pfx(a netip.Addr, bits int) netip.Prefix { return netip.PrefixFrom(a, bits).Masked() }

func TestAnswerScopes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, cdnsim.DefaultConfig())
	aligned := findBlock(t, w, "cdn-a", func(b cdnsim.Block) bool { return b.Prefixes[0].Addr().Is4() })
	runs := findBlock(t, w, "cdn-d", func(b cdnsim.Block) bool { return len(b.Prefixes) > 2 })
	split := findBlock(t, w, "cdn-c", func(b cdnsim.Block) bool { return b.Prefixes[0].Bits() >= 25 })
	echo := findBlock(t, w, "cdn-e", func(b cdnsim.Block) bool { return len(b.Prefixes) > 1 })
	outside := netip.MustParseAddr("8.8.8.8")
	tests := []struct {
		name      string
		qname     string
		ecs       netip.Prefix
		wantScope int
	}{
		{"honest aligned /24 source", "img.cdn-a.test", pfx(aligned.Prefixes[0].Addr(), 24), 20},
		{"honest aligned /20 source", "api.cdn-a.test", aligned.Prefixes[0], 20},
		{"honest aligned /16 source", "img.cdn-a.test", pfx(aligned.Prefixes[0].Addr(), 16), 20},
		{"honest runs first piece", "news.cdn-d.test", pfx(runs.Prefixes[0].Addr(), 24), runs.Prefixes[0].Bits()},
		{"honest runs last piece", "m.cdn-d.test", pfx(runs.Prefixes[2].Addr(), 24), runs.Prefixes[2].Bits()},
		{"honest split /24 source", "static.cdn-c.test", pfx(split.Prefixes[0].Addr(), 24),
			pieceOf(t, w, "cdn-c", pfx(split.Prefixes[0].Addr(), 24).Addr()).Bits()},
		{"honest split /32 source", "dl.cdn-c.test", pfx(split.Prefixes[0].Addr(), 32), split.Prefixes[0].Bits()},
		{"honest split finer source", "dl.cdn-c.test", split.Prefixes[0], split.Prefixes[0].Bits()},
		{"echo /24 source", "pay.cdn-e.test", pfx(echo.Prefixes[0].Addr(), 24), 24},
		{"echo /22 source", "feed.cdn-e.test", pfx(echo.Prefixes[0].Addr(), 22), 22},
		{"echo /32 source", "video.cdn-b.test", pfx(echo.Prefixes[0].Addr(), 32), 32},
		{"no ecs", "img.cdn-a.test", netip.Prefix{}, 0},
		{"source /0", "img.cdn-a.test", pfx(aligned.Prefixes[0].Addr(), 0), 0},
		{"echo source /0", "live.cdn-b.test", pfx(aligned.Prefixes[0].Addr(), 0), 0},
		{"global", "www.portal.test", pfx(aligned.Prefixes[0].Addr(), 24), 0},
		{"honest outside the world", "img.cdn-a.test", pfx(outside, 24), gapBits(w, outside)},
		{"echo outside the world", "live.cdn-b.test", pfx(outside, 24), 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ips, scope, _, rcode := w.Answer(tt.qname, dns.TypeA, tt.ecs)
			if rcode != dns.RcodeSuccess || len(ips) == 0 || scope != tt.wantScope {
				t.Errorf("Answer(%s, A, %s) = %v scope %d rcode %d; want scope %d", tt.qname, tt.ecs, ips, scope, rcode, tt.wantScope)
			}
		})
	}
}

// pieceOf returns the piece of cdn's partition holding a.
func pieceOf(t *testing.T, w *cdnsim.World, cdn string, a netip.Addr) netip.Prefix {
	t.Helper()
	for _, b := range w.Blocks(cdn) {
		for _, p := range b.Prefixes {
			if p.Contains(a) {
				return p
			}
		}
	}
	t.Fatalf("no piece of %s holds %s", cdn, a)
	return netip.Prefix{}
}

// gapBits is the shortest prefix length around a that holds no /24 of the world.
func gapBits(w *cdnsim.World, a netip.Addr) int {
	for bits := 0; ; bits++ {
		p := pfx(a, bits)
		if !slices.ContainsFunc(w.Subnets(), p.Overlaps) {
			return bits
		}
	}
}

func TestAnswerFollowsBlocks(t *testing.T) {
	t.Parallel()
	w := newWorld(t, cdnsim.DefaultConfig())
	for _, c := range w.CDNs() {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			names := namesOf(w, c.Name)
			byEdge := map[int][]netip.Addr{}
			for i, b := range w.Blocks(c.Name) {
				for j, p := range b.Prefixes {
					client := w.ClientIn(p, i+j)
					got := w.Truth(names[0], dns.TypeA, client)
					if prev, seen := byEdge[b.Edge]; seen && !slices.Equal(prev, got) {
						t.Fatalf("edge %d answers %v at %s and %v elsewhere", b.Edge, got, client, prev)
					}
					byEdge[b.Edge] = got
					if other := w.Truth(names[1], dns.TypeA, client); slices.Equal(other, got) {
						t.Errorf("%s and %s give the same addresses %v", names[0], names[1], got)
					}
				}
			}
			seen := map[netip.Addr]int{}
			for e, ips := range byEdge {
				if prev, dup := seen[ips[0]]; dup {
					t.Errorf("edges %d and %d answer the same %s", prev, e, ips[0])
				}
				seen[ips[0]] = e
			}
		})
	}
}

// namesOf returns the CDN names (not CNAMEs) served by cdn.
func namesOf(w *cdnsim.World, cdn string) []string {
	var out []string
	for _, d := range w.Domains() {
		if d.CDN == cdn && d.Kind != cdnsim.KindCNAME {
			out = append(out, d.Name)
		}
	}
	return out
}

func TestTruthSeesInsideSplitSubnets(t *testing.T) {
	t.Parallel()
	w := newWorld(t, cdnsim.DefaultConfig())
	tests := []struct {
		name  string
		split bool
	}{
		{"static.cdn-c.test", true},
		{"img.cdn-a.test", false},
		{"news.cdn-d.test", false},
		{"feed.cdn-e.test", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var differ int
			for i, s := range w.Subnets() {
				whole, _, _, _ := w.Answer(tt.name, dns.TypeA, s)
				b := s.Addr().As4()
				for q := range 4 {
					b[3] = byte(64*q + 1 + i%60)
					if !slices.Equal(w.Truth(tt.name, dns.TypeA, netip.AddrFrom4(b)), whole) {
						differ++
					}
				}
			}
			if (differ > 0) != tt.split {
				t.Errorf("%d clients get another answer than their /24's, want some: %v", differ, tt.split)
			}
		})
	}
}

func TestAnswerRecords(t *testing.T) {
	t.Parallel()
	w := newWorld(t, cdnsim.DefaultConfig())
	client := w.ClientIn(w.Subnets()[42], 0)
	ecs := pfx(client, 24)
	shop, _, _, _ := w.Answer("shop.cdn-a.test", dns.TypeA, ecs)
	shop6, _, _, _ := w.Answer("shop.cdn-a.test", dns.TypeAAAA, ecs)
	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		wantRcode int
		wantTTL   uint32
		wantIPs   []netip.Addr // nil: only the count is checked
		wantN     int
	}{
		{"global A", "www.portal.test", dns.TypeA, dns.RcodeSuccess, 600, addrs("198.51.100.10", "198.51.100.11", "198.51.100.12"), 3},
		{"global AAAA", "www.portal.test.", dns.TypeAAAA, dns.RcodeSuccess, 600, addrs("2001:db8:e000::10"), 1},
		{"case and dot", "WWW.Portal.TEST.", dns.TypeA, dns.RcodeSuccess, 600, nil, 3},
		{"several A", "video.cdn-b.test", dns.TypeA, dns.RcodeSuccess, 120, nil, 2},
		{"big answer", "pool.portal.test", dns.TypeA, dns.RcodeSuccess, 300, nil, 40},
		{"cname takes smallest ttl", "www.shop.test", dns.TypeA, dns.RcodeSuccess, 45, shop, 1},
		{"cname AAAA", "www.shop.test", dns.TypeAAAA, dns.RcodeSuccess, 45, shop6, 1},
		{"cname asked as cname", "www.shop.test", dns.TypeCNAME, dns.RcodeSuccess, 45, nil, 0},
		{"nodata AAAA", "ntp.portal.test", dns.TypeAAAA, dns.RcodeSuccess, 60, nil, 0},
		{"nodata other type", "img.cdn-a.test", dns.TypeMX, dns.RcodeSuccess, 60, nil, 0},
		{"nodata after cname", "www.shop.test", dns.TypeTXT, dns.RcodeSuccess, 45, nil, 0},
		{"empty non-terminal", "cdn-a.test", dns.TypeA, dns.RcodeSuccess, 60, nil, 0},
		{"apex A", "test", dns.TypeA, dns.RcodeSuccess, 60, nil, 0},
		{"apex SOA", "test.", dns.TypeSOA, dns.RcodeSuccess, 3600, nil, 0},
		{"nxdomain", "nope.cdn-a.test", dns.TypeA, dns.RcodeNameError, 60, nil, 0},
		{"nxdomain below a name", "x.img.cdn-a.test", dns.TypeAAAA, dns.RcodeNameError, 60, nil, 0},
		{"outside the zone", "example.com", dns.TypeA, dns.RcodeRefused, 0, nil, 0},
		{"zone-like suffix", "nottest", dns.TypeA, dns.RcodeRefused, 0, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ips, _, ttl, rcode := w.Answer(tt.qname, tt.qtype, ecs)
			if rcode != tt.wantRcode || ttl != tt.wantTTL || len(ips) != tt.wantN ||
				(tt.wantIPs != nil && !slices.Equal(ips, tt.wantIPs)) {
				t.Errorf("Answer(%s, %d) = %v ttl %d rcode %d; want %v (%d) ttl %d rcode %d",
					tt.qname, tt.qtype, ips, ttl, rcode, tt.wantIPs, tt.wantN, tt.wantTTL, tt.wantRcode)
			}
			if !slices.IsSortedFunc(ips, netip.Addr.Compare) {
				t.Errorf("addresses %v not sorted", ips)
			}
		})
	}
}

// addrs parses addresses.
func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestAnswerIPv6(t *testing.T) {
	t.Parallel()
	w := newWorld(t, cdnsim.DefaultConfig())
	regions := w.Regions()
	a, b := regions[0], regions[1]
	v6a, v6b := a.Prefixes[len(a.Prefixes)-1], b.Prefixes[len(b.Prefixes)-1]
	clientA, clientB := w.ClientIn(v6a, 1), w.ClientIn(v6b, 1)
	for _, name := range []string{"img.cdn-a.test", "video.cdn-b.test", "dl.cdn-c.test", "pay.cdn-e.test"} {
		ips, scope, _, rcode := w.Answer(name, dns.TypeAAAA, pfx(clientA, 56))
		if rcode != dns.RcodeSuccess || len(ips) == 0 || !ips[0].Is6() || scope < 40 || scope > 56 {
			t.Fatalf("Answer(%s, AAAA, %s) = %v scope %d rcode %d", name, pfx(clientA, 56), ips, scope, rcode)
		}
		if !slices.Equal(ips, w.Truth(name, dns.TypeAAAA, clientA)) {
			t.Errorf("%s: the /56 answer differs from the truth inside it", name)
		}
		if slices.Equal(ips, w.Truth(name, dns.TypeAAAA, clientB)) {
			t.Errorf("%s: regions %d and %d get the same IPv6 edge %v", name, a.ID, b.ID, ips)
		}
		if v4 := w.Truth(name, dns.TypeA, clientA); len(v4) == 0 || !v4[0].Is4() {
			t.Errorf("%s: an IPv6 client asking A gets %v", name, v4)
		}
	}
	v4client := w.ClientIn(a.Prefixes[0], 3)
	if got, want := w.Truth("img.cdn-a.test", dns.TypeA, netip.AddrFrom16(v4client.As16())),
		w.Truth("img.cdn-a.test", dns.TypeA, v4client); !slices.Equal(got, want) {
		t.Errorf("IPv4-mapped client gets %v, the IPv4 client %v", got, want)
	}
	if got := w.Truth("img.cdn-a.test", dns.TypeAAAA, v4client); len(got) != 1 || !got[0].Is6() {
		t.Errorf("IPv4 client asking AAAA gets %v", got)
	}
}
