package unbound

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/miekg/dns"
)

// scopeCase is one query sent straight to Unbound and what its subnetcache should do with it.
type scopeCase struct {
	what      string
	name      string
	src       netip.Prefix // ECS source sent to Unbound
	forwarded netip.Prefix // ECS source the authority should see; invalid: no query (a cache hit)
	scope     int          // ECS scope Unbound should return
}

// testScopes pins down what Unbound's subnetcache does with ECS, the behaviour httpdns relies on:
// it forwards a /24 source unchanged, cuts a longer one to max-client-subnet-ipv4, returns the
// authority's scope when it is no longer than the source and the source length when it is
// longer, and answers other subnets inside a returned scope from its cache.
func testScopes(t *testing.T, w *cdnsim.World, auth *authority, ub string) {
	subnets := w.Subnets()
	honest := subnets[0]
	_, honestScope, _, _ := w.Answer("api.cdn-a.test", dns.TypeA, honest)
	if honestScope > 23 {
		t.Fatalf("cdn-a scope %d for %s; the cache case needs a block wider than /24", honestScope, honest)
	}
	sibling := netip.PrefixFrom(flipBit(honest.Addr(), 23), 24)
	split := splitSubnet(t, w)
	client := w.ClientIn(subnets[2], 3)
	_, clientScope, _, _ := w.Answer("shop.cdn-a.test", dns.TypeA, sourceOf(client))
	cases := []scopeCase{
		{"honest CDN: the authority's scope", "api.cdn-a.test", honest, honest, honestScope},
		{"another /24 inside that scope: Unbound's cache", "api.cdn-a.test", sibling, netip.Prefix{}, honestScope},
		{"echo CDN: the source length", "live.cdn-b.test", subnets[1], subnets[1], 24},
		{"scope longer than the source: cut to the source", "static.cdn-c.test", split, split, 24},
		{"/32 source: forwarded as /24", "shop.cdn-a.test", netip.PrefixFrom(client, 32), sourceOf(client), clientScope},
		{"global name: scope 0", "ntp.portal.test", subnets[3], subnets[3], 0},
	}
	for _, tc := range cases {
		t.Run(tc.what, func(t *testing.T) {
			before := auth.sim.QueriesFor(tc.name)
			r := ask(t, ub, tc.name, tc.src)
			e := ecsOf(r)
			if r.Rcode != dns.RcodeSuccess || e == nil {
				t.Fatalf("unbound replied %s with ECS %v, want NOERROR with ECS", dns.RcodeToString[r.Rcode], e)
			}
			if int(e.SourceNetmask) != tc.src.Bits() || int(e.SourceScope) != tc.scope {
				t.Errorf("unbound's ECS source /%d scope /%d, want the query's /%d and scope /%d",
					e.SourceNetmask, e.SourceScope, tc.src.Bits(), tc.scope)
			}
			want, _, _, _ := w.Answer(tc.name, dns.TypeA, netip.PrefixFrom(tc.src.Addr(), min(tc.src.Bits(), 24)).Masked())
			if got := answerAddrs(r); !slices.Equal(got, want) {
				t.Errorf("unbound answered %v, want the world's %v", got, want)
			}
			fwd := checkForwarded(t, w, auth, tc, auth.sim.QueriesFor(tc.name)-before)
			t.Logf("%-17s ECS %-15s -> unbound scope /%-2d | authority: %s", tc.name, tc.src, e.SourceScope, fwd)
		})
	}
}

// checkForwarded checks what reached the authority for tc: nothing for a cache hit, else one
// query with the expected source, answered with the world's scope. It describes what it found.
func checkForwarded(t *testing.T, w *cdnsim.World, auth *authority, tc scopeCase, asked int64) string {
	t.Helper()
	if !tc.forwarded.IsValid() {
		if asked != 0 {
			t.Errorf("the authority was asked %d times, want an answer from Unbound's subnet cache", asked)
		}
		return fmt.Sprintf("asked %d times (answered from Unbound's subnet cache)", asked)
	}
	if asked != 1 {
		t.Errorf("the authority was asked %d times, want once", asked)
	}
	_, wantScope, _, _ := w.Answer(tc.name, dns.TypeA, tc.forwarded)
	for _, q := range auth.queries() {
		if q.name == tc.name && q.qtype == dns.TypeA && q.source == tc.forwarded {
			if q.scope != wantScope {
				t.Errorf("the authority replied scope %d, want the world's %d", q.scope, wantScope)
			}
			return fmt.Sprintf("asked %d time(s), got ECS %s, replied scope /%d", asked, q.source, q.scope)
		}
	}
	t.Errorf("the authority got no query for %s with ECS %s; it saw %v", tc.name, tc.forwarded, auth.queries())
	return "not asked as expected"
}

// splitSubnet returns a /24 that cdn-c cuts into pieces longer than /24, so its honest scope for
// the /24's first address is longer than the source.
func splitSubnet(t *testing.T, w *cdnsim.World) netip.Prefix {
	t.Helper()
	for _, b := range w.Blocks("cdn-c") {
		for _, p := range b.Prefixes {
			if p.Addr().Is4() && p.Bits() > 24 && p.Addr() == netip.PrefixFrom(p.Addr(), 24).Masked().Addr() {
				return netip.PrefixFrom(p.Addr(), 24)
			}
		}
	}
	t.Fatal("the world has no cdn-c /24 cut finer than /24")
	return netip.Prefix{}
}

// flipBit returns a with bit i (0 = the most significant) flipped.
func flipBit(a netip.Addr, i int) netip.Addr {
	b := a.As4()
	b[i/8] ^= 0x80 >> (i % 8)
	return netip.AddrFrom4(b)
}

// answerAddrs returns the A records of r's answer section, sorted.
func answerAddrs(r *dns.Msg) []netip.Addr {
	var out []netip.Addr
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			addr, _ := netip.AddrFromSlice(a.A.To4())
			out = append(out, addr)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}
