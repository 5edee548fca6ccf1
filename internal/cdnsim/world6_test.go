package cdnsim_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/miekg/dns"
)

// TestEvalWorldIPv6 checks the demanding IPv6 layout: allocations of /32 to /40, client /56s inside
// them, an IP library wrong about some of their pools, and CDN blocks of /40 to /56 that cut the
// allocations differently per provider and answer as the truth says.
func TestEvalWorldIPv6(t *testing.T) {
	t.Parallel()
	w := newWorld(t, cdnsim.EvalConfig())
	var allocs []netip.Prefix
	sizes := map[int]bool{}
	for _, r := range w.Regions() {
		for _, p := range r.Prefixes {
			if p.Addr().Is6() {
				allocs = append(allocs, p)
				sizes[p.Bits()] = true
			}
		}
	}
	if len(allocs) != 40 || len(sizes) < 4 {
		t.Fatalf("%d IPv6 allocations of %d sizes, want 40 of /32../40", len(allocs), len(sizes))
	}
	subs := w.Subnets6()
	if len(subs) < 1500 || len(subs) > 2500 {
		t.Errorf("%d client /56s, want about 2000", len(subs))
	}
	wrong := 0
	for _, s := range subs {
		c := w.ClientIn(s, 1)
		truth, ok := w.TrueRegion(c)
		geo, _ := w.GeoRegion(c)
		if s.Bits() != 56 || !ok {
			t.Fatalf("client /56 %s outside the world", s)
		}
		if truth.ID != geo.ID {
			wrong++
			if !slices.ContainsFunc(w.Misplaced6(), func(p netip.Prefix) bool { return p.Contains(c) }) {
				t.Errorf("%s is placed wrongly outside every Misplaced6 pool", s)
			}
		}
	}
	if wrong < len(subs)/100 || wrong > len(subs)/10 {
		t.Errorf("%d of %d client /56s misplaced, want about 3%%", wrong, len(subs))
	}
	lengths := map[string]map[int]bool{}
	edges := map[string]map[int]bool{}
	for _, d := range w.Domains() {
		if d.Kind != cdnsim.KindHonest && d.Kind != cdnsim.KindEcho {
			continue
		}
		lengths[d.CDN], edges[d.CDN] = map[int]bool{}, map[int]bool{}
		for i, s := range subs {
			if i%7 != 0 {
				continue
			}
			c := w.ClientIn(s, i)
			block, edge, ok := w.Block6(d.CDN, c)
			if !ok || !block.Contains(c) || block.Bits() < 40 || block.Bits() > 56 {
				t.Fatalf("Block6(%s, %v) = %v, %v", d.CDN, c, block, ok)
			}
			lengths[d.CDN][block.Bits()] = true
			edges[d.CDN][edge] = true
			ips, scope, _, _ := w.Answer(d.Name, dns.TypeAAAA, netip.PrefixFrom(c, 56).Masked())
			if !slices.Equal(ips, w.Truth(d.Name, dns.TypeAAAA, c)) {
				t.Fatalf("%s for %s: /56 answer %v differs from the truth", d.Name, s, ips)
			}
			if honest := d.Kind == cdnsim.KindHonest; honest && scope != block.Bits() || !honest && scope != 56 {
				t.Fatalf("%s for %s: scope %d, block %v", d.Name, s, scope, block)
			}
		}
	}
	if len(lengths["cdn-a"]) != 1 || len(lengths["cdn-c"]) != 2 || !lengths["cdn-c"][56] || !lengths["cdn-b"][48] {
		t.Errorf("IPv6 block lengths by CDN %v, want /44 for cdn-a, /40 and /56 for cdn-c, /48 pieces for cdn-b", lengths)
	}
	for cdn, e := range edges {
		if len(e) <= len(w.Regions()) {
			t.Errorf("%s: %d IPv6 edges for %d regions, want some alternates", cdn, len(e), len(w.Regions()))
		}
	}
}
