package resolver

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/miekg/dns"
)

func resolve(t *testing.T, e *env, name string, qtype uint16, client netip.Addr) Answer {
	t.Helper()
	a, err := e.r.Resolve(context.Background(), Query{Name: name, Qtype: qtype, Client: client})
	if err != nil {
		t.Fatalf("Resolve(%s, %v): %v", name, client, err)
	}
	e.cache.Wait()
	return a
}

func TestResolveMatchesTruthPerSubnet(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{nodes: 3, whitelist: "*.cdn-a.test subnet\n*.cdn-d.test subnet\n"})
	for _, name := range []string{"img.cdn-a.test", "news.cdn-d.test"} {
		distinct := map[netip.Addr]bool{}
		for n := 0; n < 400; n += 7 {
			client := e.clientOf(t, n, 9)
			a := resolve(t, e, name, TypeA, client)
			want := e.world.Truth(name, dns.TypeA, client)
			if !slices.Equal(a.IPs, want) {
				t.Fatalf("%s for %v = %v, truth %v", name, client, a.IPs, want)
			}
			if a.Tier != "subnet" || a.Source != "miss" {
				t.Errorf("tier %q source %q, want subnet miss", a.Tier, a.Source)
			}
			distinct[a.IPs[0]] = true
		}
		if len(distinct) < 2 {
			t.Errorf("%s: every subnet got the same edge %v", name, distinct)
		}
	}
}

func TestResolveTiers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{whitelist: "img.cdn-a.test subnet\nwww.portal.test global\n"})
	// Two /24s the IP library puts in one city+ISP, and one elsewhere.
	var same []netip.Addr
	var other netip.Addr
	first, _ := e.world.GeoRegion(e.clientOf(t, 0, 1))
	for n := 1; n < 2000 && (len(same) < 2 || !other.IsValid()); n++ {
		c := e.clientOf(t, n, 1)
		r, _ := e.world.GeoRegion(c)
		switch {
		case r.ID == first.ID && len(same) < 2:
			same = append(same, c)
		case r.ID != first.ID && !other.IsValid():
			other = c
		}
	}
	c0 := e.clientOf(t, 0, 1)

	t.Run("global shared by all", func(t *testing.T) {
		for _, c := range []netip.Addr{c0, same[0], other} {
			a := resolve(t, e, "www.portal.test", TypeA, c)
			if a.Tier != "global" || a.Scope != "" {
				t.Errorf("tier %q scope %q", a.Tier, a.Scope)
			}
		}
		if q := e.queries("www.portal.test"); q != 1 {
			t.Errorf("global name: %d upstream queries, want 1", q)
		}
	})
	t.Run("cityisp shared within a city+ISP", func(t *testing.T) {
		name := "news.cdn-d.test" // not whitelisted: default tier cityisp
		a0 := resolve(t, e, name, TypeA, c0)
		a1 := resolve(t, e, name, TypeA, same[0])
		if a0.Tier != "cityisp" || a1.Source != "hit" || a1.Scope != a0.Scope {
			t.Errorf("same city+ISP: %+v then %+v", a0, a1)
		}
		resolve(t, e, name, TypeA, other)
		if q := e.queries(name); q != 2 {
			t.Errorf("cityisp: %d upstream queries for two regions, want 2", q)
		}
	})
	t.Run("subnet per block", func(t *testing.T) {
		name := "img.cdn-a.test"
		a0 := resolve(t, e, name, TypeA, c0)
		again := resolve(t, e, name, TypeA, e.clientOf(t, 0, 200))
		a1 := resolve(t, e, name, TypeA, same[0])
		if again.Source != "hit" || a1.Source != "miss" || a0.Scope == a1.Scope {
			t.Errorf("subnet: %+v, %+v, %+v", a0, again, a1)
		}
		if q := e.queries(name); q != 2 {
			t.Errorf("subnet: %d upstream queries for two /24s, want 2", q)
		}
	})
}

func TestResolveTTLCountsDownThenRefreshes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{whitelist: "img.cdn-a.test subnet\n"})
	c := e.clientOf(t, 3, 3)
	a := resolve(t, e, "img.cdn-a.test", TypeA, c) // TTL 300
	if a.TTL != 300 || a.OriginTTL != 300 {
		t.Fatalf("first answer TTL %d origin %d, want 300/300", a.TTL, a.OriginTTL)
	}
	e.clock.Advance(100 * time.Second)
	a = resolve(t, e, "img.cdn-a.test", TypeA, c)
	if a.TTL != 200 || a.OriginTTL != 300 || a.Source != "hit" {
		t.Fatalf("after 100 s: %+v, want TTL 200 from cache", a)
	}
	// In the last 10%: served from cache, refreshed in the background.
	e.clock.Advance(175 * time.Second)
	a = resolve(t, e, "img.cdn-a.test", TypeA, c)
	e.settle()
	if a.TTL != 25 || a.Source != "hit" {
		t.Fatalf("near expiry: %+v", a)
	}
	if q := e.queries("img.cdn-a.test"); q != 2 {
		t.Fatalf("near expiry: %d upstream queries, want 2 (one refresh)", q)
	}
	a = resolve(t, e, "img.cdn-a.test", TypeA, c)
	if a.TTL != 300 {
		t.Errorf("after refresh: TTL %d, want 300", a.TTL)
	}
	// Expired a little: serve-then-refresh with a small TTL.
	e.clock.Advance(310 * time.Second)
	a = resolve(t, e, "img.cdn-a.test", TypeA, c)
	e.settle()
	if a.Source != "stale" || a.TTL != 10 {
		t.Errorf("within grace: %+v, want stale with TTL 10", a)
	}
	if q := e.queries("img.cdn-a.test"); q != 3 {
		t.Errorf("within grace: %d upstream queries, want 3", q)
	}
	// Expired long ago: a miss.
	e.clock.Advance(time.Hour)
	if a = resolve(t, e, "img.cdn-a.test", TypeA, c); a.Source != "miss" {
		t.Errorf("long expired: %+v, want a miss", a)
	}
}

func TestResolveCoalescesConcurrentMisses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{nodes: 2, whitelist: "video.cdn-b.test subnet\n"})
	e.servers[0].SetDelay(50 * time.Millisecond)
	e.servers[1].SetDelay(50 * time.Millisecond)
	c := e.clientOf(t, 5, 5)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			_, err := e.r.Resolve(context.Background(), Query{Name: "video.cdn-b.test", Qtype: TypeA, Client: e.world.ClientIn(netip.PrefixFrom(c, 24).Masked(), i)})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if q := e.queries("video.cdn-b.test"); q != 1 {
		t.Errorf("200 concurrent misses for one key: %d upstream queries, want 1", q)
	}
}

func TestResolveFailsOverFromSilentNode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{nodes: 3, whitelist: "*.cdn-a.test subnet\n", upstream: 200 * time.Millisecond, request: 2 * time.Second})
	e.servers[1].SetBehavior(cdnsim.Silent)
	for n := range 30 {
		start := time.Now()
		c := e.clientOf(t, n*11, 2)
		a := resolve(t, e, "api.cdn-a.test", TypeA, c)
		if !slices.Equal(a.IPs, e.world.Truth("api.cdn-a.test", dns.TypeA, c)) {
			t.Fatalf("wrong answer %v for %v", a.IPs, c)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("answer took %v, past the request deadline", d)
		}
	}
	if e.servers[1].Queries() == 0 {
		t.Error("the silent node was never chosen: the test proves nothing")
	}
}

func TestResolveFailsOverMisbehavingNodes(t *testing.T) {
	t.Parallel()
	for _, b := range []cdnsim.Behavior{cdnsim.ServFail, cdnsim.Refuse, cdnsim.BadECS} {
		e := newEnv(t, envOptions{nodes: 2, whitelist: "*.cdn-a.test subnet\n"})
		e.servers[0].SetBehavior(b)
		// Ask until the bad node has owned some keys (the ring decides which), then some more.
		for n := 0; n < 200 && (n < 10 || e.servers[0].Queries() == 0); n++ {
			c := e.clientOf(t, n*13, 1)
			a := resolve(t, e, "img.cdn-a.test", TypeA, c)
			if !slices.Equal(a.IPs, e.world.Truth("img.cdn-a.test", dns.TypeA, c)) {
				t.Fatalf("behavior %d: wrong answer %v", b, a.IPs)
			}
		}
		if e.servers[0].Queries() == 0 {
			t.Errorf("behavior %d: the bad node was never tried", b)
		}
	}
}

func TestResolveTruncatedRetriesOverTCP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{whitelist: "*.cdn-b.test subnet\n"})
	e.servers[0].SetBehavior(cdnsim.Truncate)
	c := e.clientOf(t, 1, 1)
	a := resolve(t, e, "video.cdn-b.test", TypeA, c)
	if !slices.Equal(a.IPs, e.world.Truth("video.cdn-b.test", dns.TypeA, c)) || len(a.IPs) != 2 {
		t.Errorf("over TCP: %v, truth %v", a.IPs, e.world.Truth("video.cdn-b.test", dns.TypeA, c))
	}
}

func TestResolveAllNodesSilent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{nodes: 2, whitelist: "img.cdn-a.test subnet\n", upstream: 300 * time.Millisecond, request: 2 * time.Second})
	c := e.clientOf(t, 2, 2)
	fresh := resolve(t, e, "img.cdn-a.test", TypeA, c)
	for _, s := range e.servers {
		s.SetBehavior(cdnsim.Silent)
	}
	e.clock.Advance(2 * time.Hour) // long expired, inside the stale window
	a := resolve(t, e, "img.cdn-a.test", TypeA, c)
	if a.Source != "stale" || a.TTL != 30 || !slices.Equal(a.IPs, fresh.IPs) {
		t.Errorf("cached name with every node silent: %+v, want the old answer stale with TTL 30", a)
	}
	start := time.Now()
	_, err := e.r.Resolve(context.Background(), Query{Name: "api.cdn-a.test", Qtype: TypeA, Client: c})
	if !errors.Is(err, ErrUpstreamUnavailable) {
		t.Errorf("uncached name: err %v, want ErrUpstreamUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("uncached name failed after %v, want within 3 s", d)
	}
	// The failure is remembered briefly, so a retry storm doesn't hit the dead nodes.
	before := e.queries("api.cdn-a.test")
	e.cache.Wait()
	if _, err := e.r.Resolve(context.Background(), Query{Name: "api.cdn-a.test", Qtype: TypeA, Client: c}); !errors.Is(err, ErrUpstreamUnavailable) {
		t.Errorf("retry: %v", err)
	}
	if after := e.queries("api.cdn-a.test"); after != before {
		t.Errorf("retry within the SERVFAIL TTL asked upstream again (%d -> %d)", before, after)
	}
}

func TestResolveNegativeAndCNAME(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{whitelist: "*.test subnet\n"})
	c1, c2 := e.clientOf(t, 1, 1), e.clientOf(t, 900, 1)
	a := resolve(t, e, "nothing.cdn-a.test", TypeA, c1)
	if len(a.IPs) != 0 || a.Tier != "global" || a.OriginTTL == 0 {
		t.Errorf("NXDOMAIN: %+v, want empty, cached globally", a)
	}
	if a = resolve(t, e, "nothing.cdn-a.test", TypeA, c2); a.Source != "hit" {
		t.Errorf("NXDOMAIN from another subnet: %+v, want a hit", a)
	}
	// NODATA is cached for the asking client's key only (a GeoDNS may answer NODATA for regions
	// it has no mapping for): another block asks for itself.
	a = resolve(t, e, "ntp.portal.test", TypeAAAA, c1)
	if len(a.IPs) != 0 || a.Tier != "subnet" || a.OriginTTL == 0 {
		t.Errorf("NODATA: %+v, want empty, cached for the client's block", a)
	}
	if a = resolve(t, e, "ntp.portal.test", TypeAAAA, c2); a.Source != "miss" {
		t.Errorf("NODATA from another block: %+v, want its own fetch", a)
	}
	a = resolve(t, e, "www.shop.test", TypeA, c1)
	want := e.world.Truth("www.shop.test", dns.TypeA, c1)
	if !slices.Equal(a.IPs, want) || a.OriginTTL != 45 {
		t.Errorf("CNAME chain: %+v, want %v with the chain's smallest TTL 45", a, want)
	}
}

func TestResolveIPv6(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{whitelist: "*.cdn-a.test subnet\n"})
	var v6 []netip.Prefix
	for _, r := range e.world.Regions() {
		for _, p := range r.Prefixes {
			if p.Addr().Is6() {
				v6 = append(v6, p)
			}
		}
	}
	if len(v6) < 2 {
		t.Fatal("world has no IPv6")
	}
	for _, p := range v6[:2] {
		c := e.world.ClientIn(p, 77)
		a := resolve(t, e, "img.cdn-a.test", TypeAAAA, c)
		if want := e.world.Truth("img.cdn-a.test", dns.TypeAAAA, c); !slices.Equal(a.IPs, want) || len(want) == 0 {
			t.Errorf("AAAA for %v: %v, truth %v", c, a.IPs, want)
		}
		if pfx := netip.MustParsePrefix(a.Scope); pfx.Bits() != 56 || !pfx.Contains(c) {
			t.Errorf("IPv6 block %q, want the client's /56", a.Scope)
		}
	}
}

func TestResolveRejectsBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.clientOf(t, 0, 1)
	if _, err := e.r.Resolve(context.Background(), Query{Name: "bad..name", Qtype: TypeA, Client: c}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("bad name: %v", err)
	}
	if _, err := e.r.Resolve(context.Background(), Query{Name: "a.test", Qtype: dns.TypeMX, Client: c}); !errors.Is(err, ErrInvalidType) {
		t.Errorf("bad type: %v", err)
	}
	if e.queries("a.test") != 0 {
		t.Error("bad input reached upstream")
	}
}
