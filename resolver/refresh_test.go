package resolver

import (
	"net/netip"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestActiveRefreshSkipsKeysWithoutDemand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{whitelist: "img.cdn-a.test subnet active\n"})
	resolve(t, e, "img.cdn-a.test", TypeA, e.clientOf(t, 4, 4)) // asked once: its own fetch
	e.clock.Advance(280 * time.Second)
	e.r.Sweep()
	e.settle()
	if q := e.queries("img.cdn-a.test"); q != 1 {
		t.Errorf("a key asked once a TTL was refreshed ahead: %d queries", q)
	}
}

func TestActiveRefreshBeforeExpiryUntilCold(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{whitelist: "img.cdn-a.test subnet active\n"})
	const name = "img.cdn-a.test" // TTL 300
	c := e.clientOf(t, 4, 4)
	resolve(t, e, name, TypeA, c)
	key := cache.Key{Name: name, Qtype: TypeA, Tier: cache.TierSubnet, Scope: netip.PrefixFrom(c, 24).Masked().String()}

	resolve(t, e, name, TypeA, c) // demand: asked twice since the fetch
	resolve(t, e, name, TypeA, c)
	e.clock.Advance(230 * time.Second) // 77% of the TTL: not yet
	e.r.Sweep()
	e.settle()
	if q := e.queries(name); q != 1 {
		t.Fatalf("refreshed at 77%% of the TTL: %d queries", q)
	}
	e.clock.Advance(41 * time.Second) // 90.3%: past every key's 80–90% refresh point
	e.r.Sweep()
	e.settle()
	if q := e.queries(name); q != 2 {
		t.Fatalf("no active refresh at 90%% of the TTL: %d queries", q)
	}
	if got, ok := e.cache.Peek(key); !ok || !got.Fetched.Equal(e.clock.Now()) {
		t.Fatalf("entry not refreshed: %+v", got)
	}
	// The client keeps asking twice a TTL: every TTL it is refreshed ahead of expiry and always hits.
	for range 3 {
		for range 2 {
			e.clock.Advance(137 * time.Second)
			e.r.Sweep()
			e.settle()
			if a := resolve(t, e, name, TypeA, c); a.Source != "hit" {
				t.Fatalf("an actively refreshed key missed: %+v", a)
			}
		}
	}
	before := e.queries(name)
	// Nobody asks any more: after a few TTLs the key is cold, dropped and no longer refreshed.
	for range 8 {
		e.clock.Advance(275 * time.Second)
		e.r.Sweep()
		e.settle()
	}
	if e.r.recent.len() != 0 {
		t.Errorf("%d keys still tracked after going cold", e.r.recent.len())
	}
	after := e.queries(name)
	if after-before > coldTTLs+1 {
		t.Errorf("a cold key was refreshed %d more times", after-before)
	}
	e.clock.Advance(time.Hour)
	e.r.Sweep()
	e.settle()
	if q := e.queries(name); q != after {
		t.Errorf("refreshes went on after the key was dropped: %d -> %d", after, q)
	}
}

func TestPassiveNamesAreNotActivelyRefreshed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{whitelist: "img.cdn-a.test subnet passive\n"})
	resolve(t, e, "img.cdn-a.test", TypeA, e.clientOf(t, 4, 4))
	e.clock.Advance(290 * time.Second)
	e.r.Sweep()
	e.settle()
	if q := e.queries("img.cdn-a.test"); q != 1 {
		t.Errorf("a passive name was refreshed in the background: %d queries", q)
	}
}

// neighbours returns two adjacent /24s of one region, as the IP library and the truth see it.
func neighbours(t *testing.T, e *env) (netip.Addr, netip.Addr) {
	t.Helper()
	subnets := e.world.Subnets()
	for i := 0; i+1 < len(subnets); i++ {
		a, b := subnets[i].Addr(), subnets[i+1].Addr()
		ga, _ := e.world.GeoRegion(a)
		gb, _ := e.world.GeoRegion(b)
		if addrAdd(a, 256) == b && ga.ID == gb.ID {
			return e.world.ClientIn(subnets[i], 7), e.world.ClientIn(subnets[i+1], 7)
		}
	}
	t.Fatal("no adjacent /24s in one region")
	return netip.Addr{}, netip.Addr{}
}

func TestSiblingPrefetchOncePerTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{whitelist: "video.cdn-b.test subnet\n"})
	const name = "video.cdn-b.test" // TTL 120, echo CDN: one key per /24 without a CIDRDB
	a, b := neighbours(t, e)
	resolve(t, e, name, TypeA, a)
	resolve(t, e, name, TypeA, b)
	e.clock.Advance(10 * time.Second)
	resolve(t, e, name, TypeA, b) // B in demand since its fetch: asked twice
	resolve(t, e, name, TypeA, b)
	keyB := cache.Key{Name: name, Qtype: TypeA, Tier: cache.TierSubnet, Scope: netip.PrefixFrom(b, 24).Masked().String()}

	// A's answer expires and is fetched again; so has B's, so it is prefetched with it.
	e.clock.Advance(190 * time.Second)
	resolve(t, e, name, TypeA, a)
	e.settle()
	if q := e.queries(name); q != 4 {
		t.Fatalf("%d upstream queries, want 4: A, B, A again and B prefetched", q)
	}
	if got, ok := e.cache.Peek(keyB); !ok || !got.Fetched.Equal(e.clock.Now()) {
		t.Fatalf("sibling not prefetched: %+v", got)
	}
	if got := resolve(t, e, name, TypeA, b); got.Source != "hit" {
		t.Errorf("the prefetched sibling missed: %+v", got)
	}
	resolve(t, e, name, TypeA, b) // B in demand again
	// Within the same TTL another fetch next door does not prefetch B again, even once B is past
	// its refresh point (at most 90% of the TTL) again.
	e.clock.Advance(110 * time.Second)
	req := e.r.classify(name, TypeA, a)
	e.r.prefetchSiblings(&req, cache.Entry{TTL: 120, Fetched: e.clock.Now()})
	e.settle()
	if q := e.queries(name); q != 4 {
		t.Errorf("%d upstream queries, want 4: B must not be prefetched twice in one TTL", q)
	}
	// A TTL later it may be again.
	e.clock.Advance(15 * time.Second)
	e.r.prefetchSiblings(&req, cache.Entry{TTL: 120, Fetched: e.clock.Now()})
	e.settle()
	if q := e.queries(name); q != 5 {
		t.Errorf("%d upstream queries, want 5: B is due for a prefetch a TTL later", q)
	}
}

func TestSiblingPrefetchNeedsDemandAndItsRefreshPoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{whitelist: "video.cdn-b.test subnet\n"})
	const name = "video.cdn-b.test" // TTL 120
	a, b := neighbours(t, e)
	resolve(t, e, name, TypeA, a)
	resolve(t, e, name, TypeA, b)
	resolve(t, e, name, TypeA, b) // B asked once since its fetch: below ActiveMinAsks (2)
	req := e.r.classify(name, TypeA, a)
	e.clock.Advance(200 * time.Second)
	e.r.prefetchSiblings(&req, cache.Entry{TTL: 120, Fetched: e.clock.Now()})
	e.settle()
	if q := e.queries(name); q != 2 {
		t.Fatalf("%d upstream queries, want 2: B asked once was prefetched", q)
	}
	resolve(t, e, name, TypeA, b) // B expired: fetched again, then asked twice
	resolve(t, e, name, TypeA, b)
	resolve(t, e, name, TypeA, b)
	e.clock.Advance(60 * time.Second) // half B's TTL: before its refresh point
	e.r.prefetchSiblings(&req, cache.Entry{TTL: 120, Fetched: e.clock.Now()})
	e.settle()
	if q := e.queries(name); q != 3 {
		t.Fatalf("%d upstream queries, want 3: B was prefetched at half its TTL", q)
	}
	e.clock.Advance(50 * time.Second) // 92% of its TTL
	e.r.prefetchSiblings(&req, cache.Entry{TTL: 120, Fetched: e.clock.Now()})
	e.settle()
	if q := e.queries(name); q != 4 {
		t.Errorf("%d upstream queries, want 4: B in demand past its refresh point was not prefetched", q)
	}
}

func TestRefreshesNoClientUsedAreCounted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{whitelist: "img.cdn-a.test subnet active\n"})
	const name = "img.cdn-a.test" // TTL 300
	c := e.clientOf(t, 4, 4)
	for range 3 {
		resolve(t, e, name, TypeA, c)
	}
	e.clock.Advance(280 * time.Second) // past the refresh point: refreshed ahead
	e.r.Sweep()
	e.settle()
	if q := e.queries(name); q != 2 {
		t.Fatalf("%d queries, want 2: the fetch and one active refresh", q)
	}
	// Nobody asks again: the key goes cold and the refresh is counted as unused.
	for range 6 {
		e.clock.Advance(300 * time.Second)
		e.r.Sweep()
		e.settle()
	}
	if got := testutil.ToFloat64(e.r.metrics.unused.WithLabelValues("active")); got != 1 {
		t.Errorf("unused active refreshes = %v, want 1", got)
	}
	// Refreshes clients then use are not counted.
	for range 3 {
		resolve(t, e, name, TypeA, c)
	}
	before := e.queries(name)
	for range 2 {
		e.clock.Advance(280 * time.Second)
		e.r.Sweep()
		e.settle()
		resolve(t, e, name, TypeA, c)
		resolve(t, e, name, TypeA, c)
	}
	if q := e.queries(name); q != before+2 {
		t.Fatalf("%d queries, want %d: two more active refreshes", q, before+2)
	}
	if got := testutil.ToFloat64(e.r.metrics.unused.WithLabelValues("active")); got != 1 {
		t.Errorf("unused active refreshes = %v after a used one, want still 1", got)
	}
}

func TestSiblingPrefetchSkipsUnaskedBlocks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{whitelist: "video.cdn-b.test subnet\n"})
	a, _ := neighbours(t, e)
	resolve(t, e, "video.cdn-b.test", TypeA, a)
	e.settle()
	if q := e.queries("video.cdn-b.test"); q != 1 {
		t.Errorf("%d queries: a block nobody asked for was prefetched", q)
	}
}
