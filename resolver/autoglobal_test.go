package resolver

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// geoDefault answers clients of the second octet 5 (one region) with what a GeoDNS without a
// mapping for them gives — NODATA or a scope-0 default — and every other /24 with its own scoped answer.
func geoDefault(nodata bool) func(src netip.Prefix) (netip.Addr, uint8, int) {
	return func(src netip.Prefix) (netip.Addr, uint8, int) {
		b := src.Addr().As4()
		if b[1] == 5 {
			if nodata {
				return netip.Addr{}, 0, dns.RcodeSuccess
			}
			return netip.MustParseAddr("9.9.9.9"), 0, dns.RcodeSuccess
		}
		return netip.AddrFrom4([4]byte{10, 0, b[1], b[2]}), 24, dns.RcodeSuccess
	}
}

func TestUnscopedAnswerStaysWithTheAsker(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tier   cache.Tier
		nodata bool
	}{
		{"subnet nodata", cache.TierSubnet, true},
		{"subnet scope-0 default", cache.TierSubnet, false},
		{"cityisp nodata", cache.TierCityISP, true},
		{"cityisp scope-0 default", cache.TierCityISP, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &scriptedDNS{}
			f.set(geoDefault(tc.nodata))
			r, c, clk := newScripted(t, f, Rule{Tier: tc.tier})
			// The unmapped region asks first.
			a, err := ask(t, r, c, "1.5.1.1")
			if err != nil || (tc.nodata && len(a.IPs) != 0) {
				t.Fatalf("unmapped region: %+v %v", a, err)
			}
			want := netip.MustParseAddr("10.0.6.1")
			for i, step := range []time.Duration{0, time.Second, 2 * time.Hour} {
				clk.Advance(step)
				b, err := ask(t, r, c, "1.6.1.1")
				if err != nil || len(b.IPs) != 1 || b.IPs[0] != want {
					t.Fatalf("mapped region, request %d (after %v): %+v %v, want its own %v", i, step, b, err, want)
				}
				if i == 1 && b.Source != "hit" {
					t.Errorf("mapped region's second request: %+v, want its own answer from the cache", b)
				}
			}
			// And the first region keeps its own answer from the cache.
			if a, _ := ask(t, r, c, "1.5.1.1"); a.Tier == "global" {
				t.Errorf("unmapped region's answer went name-wide: %+v", a)
			}
		})
	}
}

func TestAutoGlobalNeedsEvidenceAndAScopedAnswerEndsIt(t *testing.T) {
	t.Parallel()
	f := &scriptedDNS{}
	f.set(global9)
	r, c, clk := newScripted(t, f, Rule{Tier: cache.TierSubnet})
	// Scope 0 for three blocks of one place (fixedLoc's 1.2.0.0/20 and two /24s of another city)
	// is not yet evidence enough.
	for _, cl := range []string{"1.2.0.1", "1.7.1.1", "1.7.2.1"} {
		if a, _ := ask(t, r, c, cl); a.Tier == "global" {
			t.Fatalf("client %s: %+v, name-wide after too little evidence", cl, a)
		}
	}
	if r.autoGlobal.global("x.test", TypeA) {
		t.Fatal("global after 3 blocks")
	}
	// A fourth block, in a third city: the evidence is complete, and this answer is stored name-wide.
	if a, _ := ask(t, r, c, "1.8.1.1"); a.Tier != "global" {
		t.Errorf("the answer completing the evidence: %+v, want it stored name-wide", a)
	}
	if !r.autoGlobal.global("x.test", TypeA) {
		t.Fatal("not global after scope 0 for 4 blocks in 3 places")
	}
	before := f.queries.Load()
	for _, cl := range []string{"1.9.1.1", "1.10.1.1"} {
		if a, _ := ask(t, r, c, cl); a.Source != "hit" || a.Tier != "global" {
			t.Errorf("a new block of a global name: %+v, want the name-wide answer from the cache", a)
		}
	}
	// Each new place's first client also checks the answer with its own ECS, in the background;
	// clients of places that checked it cost nothing.
	if q := f.queries.Load() - before; q != 2 {
		t.Errorf("%d upstream queries for two new places of a global name, want 2 background checks", q)
	}
	for _, cl := range []string{"1.9.2.1", "1.10.2.1"} {
		if a, _ := ask(t, r, c, cl); a.Source != "hit" || a.Tier != "global" {
			t.Errorf("another block of a checked place: %+v, want the name-wide answer", a)
		}
	}
	if q := f.queries.Load() - before; q != 2 {
		t.Errorf("%d upstream queries after clients of checked places, want still 2", q)
	}
	// The CDN starts scoping: the name-wide entry expires and the next client's fetch, sent with
	// its own ECS, comes back scoped; the name is per client again.
	f.set(perSubnet(24))
	clk.Advance(2 * time.Hour)
	if a, _ := ask(t, r, c, "1.11.1.1"); a.Tier != "subnet" || a.IPs[0] != netip.MustParseAddr("10.0.11.1") {
		t.Errorf("scoped answer after the name went global: %+v", a)
	}
	if r.autoGlobal.global("x.test", TypeA) {
		t.Error("still global after a scoped answer")
	}
	if a, _ := ask(t, r, c, "1.12.1.1"); a.Source != "miss" || a.IPs[0] != netip.MustParseAddr("10.0.12.1") {
		t.Errorf("another block after the scoped answer: %+v, want its own fetch", a)
	}
}

func TestNXDOMAINIsNameWide(t *testing.T) {
	t.Parallel()
	f := &scriptedDNS{}
	f.set(func(netip.Prefix) (netip.Addr, uint8, int) { return netip.Addr{}, 0, dns.RcodeNameError })
	r, c, _ := newScripted(t, f, Rule{Tier: cache.TierSubnet})
	ask(t, r, c, "1.5.1.1")
	if a, _ := ask(t, r, c, "1.6.1.1"); a.Source != "hit" || a.Tier != "global" || len(a.IPs) != 0 {
		t.Errorf("NXDOMAIN for another block: %+v, want the name-wide negative answer from the cache", a)
	}
	if q := f.queries.Load(); q != 1 {
		t.Errorf("%d upstream queries, want 1", q)
	}
}

func TestCacheRequestsCountOneOutcomePerRequest(t *testing.T) {
	t.Parallel()
	f := &scriptedDNS{}
	f.set(func(src netip.Prefix) (netip.Addr, uint8, int) {
		b := src.Addr().As4()
		return netip.AddrFrom4([4]byte{10, 0, b[1], b[2] &^ 3}), 22, 0 // parts of the /20 block
	})
	reg := prometheus.NewRegistry()
	c, err := cache.New(cache.Config{MaxBytes: 16 << 20, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	r, err := New(Config{Upstreams: []string{startScripted(t, f)}, Locator: fixedLoc{}, Cache: c,
		Policy: fixedPolicy{Rule{Tier: cache.TierSubnet}}, HedgeMin: -1, SweepInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	// A miss reads the block key and the name-wide key; a client of another part reads more.
	for i, cl := range []string{"1.2.0.5", "1.2.0.6", "1.2.8.5", "1.2.8.6", "1.3.0.1"} {
		ask(t, r, c, cl)
		if got := cacheRequests(t, reg); got != float64(i+1) {
			t.Fatalf("after %d requests the cache counted %v outcomes", i+1, got)
		}
	}
}

func TestSpecialClientsSendNoECSAndShareNoLocation(t *testing.T) {
	t.Parallel()
	var sawECS atomic.Bool
	f := &scriptedDNS{}
	f.set(func(src netip.Prefix) (netip.Addr, uint8, int) {
		if src.IsValid() {
			sawECS.Store(true)
		}
		return netip.MustParseAddr("10.9.9.9"), 0, 0
	})
	r, c, _ := newScripted(t, f, Rule{Tier: cache.TierSubnet})
	// CGNAT, documentation, benchmarking, 6to4 of a private IPv4, NAT64 of a private IPv4.
	for _, cl := range []string{"100.64.1.1", "192.0.2.7", "198.18.0.1", "2002:c0a8:101::1", "64:ff9b::a00:1"} {
		a, err := ask(t, r, c, cl)
		if err != nil || a.Scope != "" {
			t.Errorf("client %s: %+v %v, want an answer for a client without a location", cl, a, err)
		}
	}
	if sawECS.Load() {
		t.Error("ECS sent for a special-purpose client address")
	}
	if q := f.queries.Load(); q != 1 {
		t.Errorf("%d upstream queries for clients without a location, want 1 (they share one key)", q)
	}
}

func TestAutoGlobalEndingMidFlightKeepsTheLeadersAnswer(t *testing.T) {
	t.Parallel()
	f := &scriptedDNS{delay: 100 * time.Millisecond}
	f.set(global9)
	r, c, clk := newScripted(t, f, Rule{Tier: cache.TierSubnet})
	for _, cl := range []string{"1.2.0.1", "1.7.1.1", "1.7.2.1", "1.8.1.1"} {
		ask(t, r, c, cl)
	}
	if !r.autoGlobal.global("x.test", TypeA) {
		t.Fatal("not global after scope 0 for 4 blocks in 3 places")
	}
	// The name-wide entry is long gone; the CDN now scopes. Two clients of different blocks and
	// places miss together: both join the one name-wide flight, which comes back scoped to the
	// first one's /24 and is stored under its key.
	f.set(perSubnet(24))
	clk.Advance(2 * time.Hour)
	res := make([]Answer, 2)
	var wg sync.WaitGroup
	for i, cl := range []string{"1.20.1.1", "1.21.1.1"} {
		wg.Go(func() {
			if i == 1 {
				time.Sleep(20 * time.Millisecond) // join the first client's flight
			}
			res[i], _ = r.Resolve(context.Background(), Query{Name: "x.test", Qtype: TypeA, Client: netip.MustParseAddr(cl)})
		})
	}
	wg.Wait()
	for i, want := range []string{"10.0.20.1", "10.0.21.1"} {
		if len(res[i].IPs) != 1 || res[i].IPs[0] != netip.MustParseAddr(want) {
			t.Errorf("client %d got %+v, want its own %s", i, res[i], want)
		}
	}
}

func TestScopedNODATAIsNoEvidenceForAutoGlobal(t *testing.T) {
	t.Parallel()
	f := &scriptedDNS{}
	// A CDN with edges (of this type) in one region only: the others get NODATA, scoped to their /24.
	f.set(func(src netip.Prefix) (netip.Addr, uint8, int) {
		b := src.Addr().As4()
		if b[1] == 9 {
			return netip.MustParseAddr("10.0.9.1"), 24, dns.RcodeSuccess
		}
		return netip.Addr{}, 24, dns.RcodeSuccess
	})
	r, c, _ := newScripted(t, f, Rule{Tier: cache.TierSubnet})
	for _, cl := range []string{"1.5.1.1", "1.6.1.1", "1.7.1.1", "1.8.1.1"} {
		ask(t, r, c, cl)
	}
	if r.autoGlobal.global("x.test", TypeA) {
		t.Error("global after NODATA scoped to each asker's /24")
	}
	if a, err := ask(t, r, c, "1.9.1.1"); err != nil || len(a.IPs) != 1 || a.IPs[0] != netip.MustParseAddr("10.0.9.1") {
		t.Errorf("client of the region with edges: %+v %v, want its own 10.0.9.1", a, err)
	}
}

func TestAutoGlobalForcedByChosenAddressesIsCheckedByTheNextPlace(t *testing.T) {
	t.Parallel()
	f := &scriptedDNS{}
	// Regions 5 and 6 have no mapping (a scope-0 default); every other region is scoped.
	f.set(func(src netip.Prefix) (netip.Addr, uint8, int) {
		b := src.Addr().As4()
		if b[1] == 5 || b[1] == 6 {
			return netip.MustParseAddr("9.9.9.9"), 0, 0
		}
		return netip.AddrFrom4([4]byte{10, 0, b[1], b[2]}), 24, 0
	})
	r, c, _ := newScripted(t, f, Rule{Tier: cache.TierSubnet})
	// One client chooses addresses (ip=) in four unmapped blocks of two places: the evidence rule
	// makes the name global.
	for _, cl := range []string{"1.5.1.1", "1.5.2.1", "1.6.1.1", "1.6.2.1"} {
		ask(t, r, c, cl)
	}
	if !r.autoGlobal.global("x.test", TypeA) {
		t.Fatal("not global after the chosen addresses")
	}
	// The first client of a mapped place is served the name-wide answer once, and checks it with
	// its own ECS in the background: the scoped reply ends auto-global.
	ask(t, r, c, "1.7.1.1")
	if r.autoGlobal.global("x.test", TypeA) {
		t.Fatal("still global after a mapped place's client checked the answer")
	}
	for _, cl := range []string{"1.7.1.1", "1.8.1.1"} {
		want := netip.MustParseAddr("10.0." + map[string]string{"1.7.1.1": "7", "1.8.1.1": "8"}[cl] + ".1")
		if a, _ := ask(t, r, c, cl); len(a.IPs) != 1 || a.IPs[0] != want {
			t.Errorf("client %s after the check: %+v, want its own %v", cl, a, want)
		}
	}
}

func TestFailureRememberedAgainAfterItExpires(t *testing.T) {
	t.Parallel()
	f := &scriptedDNS{}
	f.set(func(netip.Prefix) (netip.Addr, uint8, int) { return netip.Addr{}, 0, dns.RcodeServerFailure })
	r, c, clk := newScripted(t, f, Rule{Tier: cache.TierSubnet})
	for round := range 3 {
		before := f.queries.Load()
		for range 4 {
			if _, err := ask(t, r, c, "1.5.1.1"); err == nil {
				t.Fatal("a failing name answered")
			}
		}
		// One request asks (at most two nodes' worth of queries); the failure answers the rest.
		if q := f.queries.Load() - before; q == 0 || q > 2 {
			t.Errorf("round %d: %d upstream queries for 4 requests of a failing name, want 1–2", round, q)
		}
		clk.Advance(6 * time.Second) // past ttl.servfail
	}
}

func TestNAT64ClientIsItsIPv4Client(t *testing.T) {
	t.Parallel()
	f := &scriptedDNS{}
	var got netip.Prefix
	f.set(func(src netip.Prefix) (netip.Addr, uint8, int) {
		got = src
		return netip.MustParseAddr("10.0.0.7"), 24, 0
	})
	r, c, _ := newScripted(t, f, Rule{Tier: cache.TierSubnet})
	a, err := ask(t, r, c, "64:ff9b::1.6.1.1")
	f.mu.Lock() // the handler runs under f.mu
	sent := got
	f.mu.Unlock()
	if err != nil || sent != netip.MustParsePrefix("1.6.1.0/24") || a.Scope != "1.6.1.0/24" {
		t.Errorf("NAT64 client: ECS %v, answer %+v %v; want the IPv4 client's /24 as ECS and key", sent, a, err)
	}
	if b, _ := ask(t, r, c, "1.6.1.200"); b.Source != "hit" {
		t.Errorf("the IPv4 client of the same /24 after its NAT64 twin: %+v, want a hit", b)
	}
}
