package unbound

import (
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/miekg/dns"
)

// skipMessage is what the test says where Unbound is missing.
const skipMessage = "unbound not installed: apt-get install unbound (it installs /usr/sbin/unbound; /usr/sbin must be on PATH)"

// TestHTTPDNSThroughUnbound runs the chain client -> httpdns -> Unbound (subnetcache) -> the
// simulated CDN authoritative on loopback and judges httpdns's answers by the world's truth.
func TestHTTPDNSThroughUnbound(t *testing.T) {
	t.Parallel()
	unboundBin, err := exec.LookPath("unbound")
	if err != nil {
		t.Skip(skipMessage)
	}
	world, err := cdnsim.NewWorld(cdnsim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	auth := startAuthority(t, world)
	ub := startUnbound(t, unboundBin, auth)
	svc := startHTTPDNS(t, buildHTTPDNS(t, t.TempDir()), world, ub)
	clients := pickClients(t, world, 5)
	t.Logf("authority %s, unbound %s, httpdns %s (admin %s)", auth.addr, ub, svc.public, svc.admin)

	t.Run("per-subnet truth", func(t *testing.T) { testSubnetTruth(t, world, auth, svc, clients) })
	t.Run("cache hit", func(t *testing.T) { testCacheHit(t, world, auth, svc, clients[0]) })
	t.Run("global name", func(t *testing.T) { testGlobal(t, world, auth, svc, clients) })
	t.Run("subnetcache scopes", func(t *testing.T) { testScopes(t, world, auth, ub) })
}

// testSubnetTruth: every client gets the CDN's answer for its exact address, which differs between
// subnets and from the answer without ECS, and the authority saw each client's /24 as ECS source.
func testSubnetTruth(t *testing.T, w *cdnsim.World, auth *authority, svc *httpdns, clients []netip.Addr) {
	for _, name := range []string{"img.cdn-a.test", "video.cdn-b.test", "www.shop.test"} {
		t.Run(name, func(t *testing.T) {
			noECS, _, _, _ := w.Answer(name, dns.TypeA, netip.Prefix{})
			distinct := map[string]bool{}
			for _, c := range clients {
				got := svc.d(t, name, c)
				want := w.Truth(name, dns.TypeA, c)
				if !slices.Equal(sortedAddrs(t, got.IPs), want) {
					t.Errorf("client %s: ips %v, want the truth %v", c, got.IPs, want)
				}
				if src := sourceOf(c); got.Scope != src.String() {
					t.Errorf("client %s: scope %q, want its /24 %s", c, got.Scope, src)
				}
				if slices.Equal(want, noECS) {
					t.Errorf("client %s: truth %v is the no-ECS answer too; pick other clients", c, want)
				}
				distinct[addrsKey(want)] = true
				if !auth.saw(name, sourceOf(c)) {
					t.Errorf("client %s: the authority got no query for %s with ECS %s", c, name, sourceOf(c))
				}
				t.Logf("%-16s %-15s -> %v (scope %s, ttl %d)", name, c, got.IPs, got.Scope, got.TTL)
			}
			if len(distinct) < 2 {
				t.Errorf("all %d clients got one answer; the check needs subnets the CDN routes apart", len(clients))
			}
			if n := auth.sim.QueriesFor(name); n < int64(len(clients)) {
				t.Errorf("authority QueriesFor(%s) = %d, want at least %d", name, n, len(clients))
			}
		})
	}
}

// testCacheHit: another address of an asked /24 is answered from httpdns's cache.
func testCacheHit(t *testing.T, w *cdnsim.World, auth *authority, svc *httpdns, first netip.Addr) {
	const name = "img.cdn-a.test"
	other := w.ClientIn(sourceOf(first), 99)
	if other == first {
		t.Fatalf("ClientIn gave %s twice", first)
	}
	hits, upstream := svc.cacheCount(t, "subnet", "hit"), auth.sim.QueriesFor(name)
	got := svc.d(t, name, other)
	if want := w.Truth(name, dns.TypeA, other); !slices.Equal(sortedAddrs(t, got.IPs), want) {
		t.Errorf("client %s: ips %v, want %v", other, got.IPs, want)
	}
	if now := svc.cacheCount(t, "subnet", "hit"); now != hits+1 {
		t.Errorf("subnet-tier cache hits went %v -> %v, want one more", hits, now)
	}
	if now := auth.sim.QueriesFor(name); now != upstream {
		t.Errorf("authority got %d more queries for %s, want none", now-upstream, name)
	}
	if got.TTL <= 0 || got.TTL > got.OriginTTL {
		t.Errorf("ttl %d, origin_ttl %d: want 0 < ttl <= origin_ttl", got.TTL, got.OriginTTL)
	}
	t.Logf("%s %s -> %v from httpdns's cache (scope %s, ttl %d of %d); the authority was not asked",
		name, other, got.IPs, got.Scope, got.TTL, got.OriginTTL)
}

// testGlobal: a global name gets one answer for everyone, asked upstream once and without the
// client's subnet (httpdns sends no ECS for the global tier).
func testGlobal(t *testing.T, w *cdnsim.World, auth *authority, svc *httpdns, clients []netip.Addr) {
	const name = "www.portal.test"
	for _, c := range clients {
		got := svc.d(t, name, c)
		if want := w.Truth(name, dns.TypeA, c); !slices.Equal(sortedAddrs(t, got.IPs), want) {
			t.Errorf("client %s: ips %v, want %v", c, got.IPs, want)
		}
		if got.Scope != "" {
			t.Errorf("client %s: scope %q, want none for a global answer", c, got.Scope)
		}
	}
	if n := auth.sim.QueriesFor(name); n != 1 {
		t.Errorf("authority QueriesFor(%s) = %d, want 1 for %d clients", name, n, len(clients))
	}
	for _, q := range auth.queries() {
		if q.name != name {
			continue
		}
		if q.source.IsValid() {
			t.Logf("%s reached the authority with ECS %s (Unbound's own, from its querier address), scope %d", name, q.source, q.scope)
		} else {
			t.Logf("%s reached the authority without ECS", name)
		}
		for _, c := range clients {
			if q.source.IsValid() && q.source.Contains(c) {
				t.Errorf("the authority saw ECS %s for the global name, a client's subnet", q.source)
			}
		}
	}
}

// pickClients returns n clients from /24s spread evenly over the world, no two in one /20 (the
// widest block of the CDNs tested, so Unbound's subnet cache never answers one for another).
func pickClients(t *testing.T, w *cdnsim.World, n int) []netip.Addr {
	t.Helper()
	subnets := w.Subnets()
	var out []netip.Addr
	seen20 := map[netip.Prefix]bool{}
	for i := range n {
		c := w.ClientIn(subnets[i*len(subnets)/n+len(subnets)/(2*n)], 7)
		p20 := netip.PrefixFrom(c, 20).Masked()
		if seen20[p20] {
			t.Fatalf("clients share %s; spread them wider", p20)
		}
		seen20[p20] = true
		out = append(out, c)
	}
	return out
}

// sourceOf is the ECS source httpdns sends for client: its /24.
func sourceOf(client netip.Addr) netip.Prefix {
	return netip.PrefixFrom(client, 24).Masked()
}

// saw reports whether the authority received a query for name with ECS source src.
func (a *authority) saw(name string, src netip.Prefix) bool {
	return slices.ContainsFunc(a.queries(), func(q seen) bool { return q.name == name && q.source == src })
}

// sortedAddrs parses and sorts the addresses of a /d answer.
func sortedAddrs(t *testing.T, ips []string) []netip.Addr {
	t.Helper()
	out := make([]netip.Addr, 0, len(ips))
	for _, s := range ips {
		a, err := netip.ParseAddr(s)
		if err != nil {
			t.Fatalf("answer address %q: %v", s, err)
		}
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// addrsKey is a comparable form of an address list.
func addrsKey(addrs []netip.Addr) string {
	var b []byte
	for _, a := range addrs {
		b = a.AppendTo(append(b, ' '))
	}
	return string(b)
}

// ask queries Unbound directly for name's A records with ECS src.
func ask(t *testing.T, server, name string, src netip.Prefix) *dns.Msg {
	t.Helper()
	m := new(dns.Msg).SetQuestion(dns.Fqdn(name), dns.TypeA)
	m.SetEdns0(1232, false)
	e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(src.Bits()),
		Address: net.IP(src.Addr().AsSlice())}
	m.IsEdns0().Option = append(m.IsEdns0().Option, e)
	r, _, err := (&dns.Client{Timeout: 3 * time.Second}).Exchange(m, server)
	if err != nil {
		t.Fatalf("asking unbound for %s with ECS %s: %v", name, src, err)
	}
	return r
}
