package resolver

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
	"github.com/miekg/dns"
)

// coarseBlock returns an IPv4 allocation of the world of at most /18, to serve as one CIDRDB block
// that is coarser than the CDNs' own blocks.
func coarseBlock(t *testing.T) netip.Prefix {
	t.Helper()
	for _, r := range sharedWorld(t).Regions() {
		for _, p := range r.Prefixes {
			if p.Addr().Is4() && p.Bits() <= 18 {
				return p
			}
		}
	}
	t.Fatal("no IPv4 allocation of /18 or wider in the world")
	return netip.Prefix{}
}

func TestScopeNarrowerThanBlockConfirmsParts(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	block := coarseBlock(t)
	recs := []cidrdb.Record{{Network: block, BlockID: 7, Country: "XX", City: "Test", ISP: "Test"}}
	e := newEnv(t, envOptions{nodes: 2, whitelist: "*.cdn-a.test subnet\n", records: recs})
	name := "img.cdn-a.test" // honest CDN with /20 blocks: every answer vouches for a /20 only
	parts := map[netip.Prefix]bool{}
	var clients []netip.Addr
	for i := 0; i < 1<<(24-block.Bits()); i += 3 {
		sub := netip.PrefixFrom(addrAdd(block.Addr(), i<<8), 24)
		c := w.ClientIn(sub, 10)
		clients = append(clients, c)
		a := resolve(t, e, name, TypeA, c)
		if want := w.Truth(name, dns.TypeA, c); !slices.Equal(a.IPs, want) {
			t.Fatalf("client %v in block %v got %v, truth %v", c, block, a.IPs, want)
		}
		p20, _ := c.Prefix(20)
		parts[p20] = true
		if a.Scope != block.String() && a.Scope != p20.String() {
			t.Fatalf("client %v: scope %q, want the block %v or its /20 %v", c, a.Scope, block, p20)
		}
	}
	// Each /20 part was asked for once: the CDN vouches for parts, not for the block.
	if q := e.queries(name); q != int64(len(parts)) {
		t.Errorf("%d upstream queries for %d /20 parts of the block, want one each", q, len(parts))
	}
	if e.splits.Len() == 0 {
		t.Error("no split signal recorded for answers narrower than the block")
	}
	// Once confirmed, every part is answered from the cache.
	for _, c := range clients {
		if a := resolve(t, e, name, TypeA, w.ClientIn(netip.PrefixFrom(c, 24).Masked(), 99)); a.Source != "hit" {
			t.Fatalf("client in a confirmed part: %+v, want a hit", a)
		}
	}
	if q := e.queries(name); q != int64(len(parts)) {
		t.Errorf("confirmed parts asked upstream again: %d queries", q)
	}
}

func TestScopeDisagreeingPartsSplitTheBlock(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	// A block spanning two regions is wrong for every CDN: their answers differ.
	var block netip.Prefix
	for _, s := range w.Subnets() {
		p, _ := s.Addr().Prefix(16)
		a, _ := w.TrueRegion(p.Addr())
		b, _ := w.TrueRegion(addrAdd(p.Addr(), 0xff00))
		if a.ID != b.ID && w.Truth("img.cdn-a.test", dns.TypeA, p.Addr().Next()) != nil {
			block = p
			break
		}
	}
	if !block.IsValid() {
		t.Skip("no /16 spanning two regions in this world")
	}
	recs := []cidrdb.Record{{Network: block, BlockID: 3, Country: "XX", City: "Test", ISP: "Test"}}
	e := newEnv(t, envOptions{whitelist: "*.cdn-a.test subnet\n", records: recs})
	name := "img.cdn-a.test"
	for i := 0; i < 256; i += 5 {
		sub := netip.PrefixFrom(addrAdd(block.Addr(), i<<8), 24)
		if _, ok := w.TrueRegion(sub.Addr()); !ok {
			continue
		}
		c := w.ClientIn(sub, 10)
		a := resolve(t, e, name, TypeA, c)
		if want := w.Truth(name, dns.TypeA, c); !slices.Equal(a.IPs, want) {
			t.Fatalf("client %v got %v, truth %v", c, a.IPs, want)
		}
	}
	m, ok := e.cache.Peek(cache.Key{Name: name, Qtype: TypeA, Tier: cache.TierSubnet, Scope: block.String()})
	if !ok || !m.Split {
		t.Errorf("block entry %+v, want a split marker", m)
	}
}

func TestScopeEchoKeepsLearntBlock(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	block := coarseBlock(t)
	recs := []cidrdb.Record{{Network: block, BlockID: 9, Country: "XX", City: "Test", ISP: "Test"}}
	e := newEnv(t, envOptions{whitelist: "*.cdn-b.test subnet\n", records: recs})
	name := "live.cdn-b.test" // echoes the source prefix as scope
	first := resolve(t, e, name, TypeA, w.ClientIn(block, 5))
	far := resolve(t, e, name, TypeA, w.ClientIn(block, 1<<(32-block.Bits())-5))
	if far.Source != "hit" || far.Scope != block.String() || first.Scope != block.String() {
		t.Errorf("echoed scope shrank the block key: %+v then %+v", first, far)
	}
	if e.splits.Len() != 0 {
		t.Errorf("an echoed scope recorded %d split signals", e.splits.Len())
	}
}

func TestScopeFinerThanSourceRecordsSplit(t *testing.T) {
	t.Parallel()
	w := sharedWorld(t)
	e := newEnv(t, envOptions{whitelist: "*.cdn-c.test subnet\n"})
	name := "static.cdn-c.test" // honest CDN that cuts some /24s into /26s
	for _, s := range w.Subnets() {
		c := w.ClientIn(s, 1)
		a := resolve(t, e, name, TypeA, c)
		if a.Scope != s.String() {
			t.Fatalf("scope %q, want the /24 %v", a.Scope, s)
		}
		if e.splits.Len() > 0 {
			sig := e.splits.got[0]
			if sig.Scope.Bits() <= 24 || !sig.Scope.Contains(c) || sig.Name != name || sig.Source != s {
				t.Errorf("split signal %+v", sig)
			}
			return
		}
	}
	t.Error("no /24 of the world answered with a scope finer than /24")
}

func addrAdd(a netip.Addr, n int) netip.Addr {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
