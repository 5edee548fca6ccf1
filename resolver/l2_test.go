package resolver

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/internal/redistest"
	"github.com/miekg/dns"
)

// newL2 is a node's shared answer cache on the redis-server at addr. The functional tests give reads a
// generous timeout, so a loaded test machine cannot turn a hit into a miss.
func newL2(t testing.TB, addr string, cfg fleet.L2Config) *fleet.L2 {
	t.Helper()
	rdb := fleet.NewClient([]string{addr}, "")
	t.Cleanup(func() { rdb.Close() })
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	l2, err := fleet.NewL2(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l2.Close() })
	return l2
}

func flush(t testing.TB, l2 *fleet.L2) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestL2SharesAnswersBetweenNodes: node B's miss for a key node A fetched is answered from the shared cache,
// with no upstream query and with what is left of the TTL, and stored in B's own cache under the key A stored
// it under; NXDOMAIN and NODATA are shared like answers.
func TestL2SharesAnswersBetweenNodes(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	for _, tc := range []struct {
		name, whitelist, host string
		qtype                 uint16
		tier                  string
	}{
		{"subnet", "*.cdn-a.test subnet\n", "img.cdn-a.test", TypeA, "subnet"},
		{"cityisp", "", "img.cdn-a.test", TypeA, "cityisp"},
		{"global", "www.portal.test global\n", "www.portal.test", TypeA, "global"},
		{"nxdomain", "*.test subnet\n", "nothing.cdn-a.test", TypeA, "global"},
		{"nodata", "*.test subnet\n", "ntp.portal.test", TypeAAAA, "subnet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			prefix := "t-" + tc.name + ":"
			l2a := newL2(t, addr, fleet.L2Config{Prefix: prefix})
			a := newEnv(t, envOptions{whitelist: tc.whitelist, l2: l2a})
			b := a.peer(t, newL2(t, addr, fleet.L2Config{Prefix: prefix}))
			client := a.clientOf(t, 7, 10)
			first := resolve(t, a, tc.host, tc.qtype, client)
			asked := a.queries(tc.host)
			if first.Source != "miss" || first.Tier != tc.tier || asked != 1 {
				t.Fatalf("node A: %+v after %d queries, want a miss in the %s tier after 1", first, asked, tc.tier)
			}
			flush(t, l2a)
			a.clock.Advance(7 * time.Second)
			other := a.clientOf(t, 7, 200) // another client of the same key
			got := resolve(t, b, tc.host, tc.qtype, other)
			if got.Source != "l2" || !slices.Equal(got.IPs, first.IPs) || got.Rcode != first.Rcode ||
				got.Tier != first.Tier || got.Scope != first.Scope {
				t.Fatalf("node B: %+v, want A's answer %+v from the shared cache", got, first)
			}
			if got.TTL != first.TTL-7 || got.OriginTTL != first.OriginTTL {
				t.Errorf("node B: ttl %d (origin %d), want the remaining %d (origin %d)", got.TTL, got.OriginTTL, first.TTL-7, first.OriginTTL)
			}
			if n := a.queries(tc.host); n != asked {
				t.Errorf("node B asked upstream: %d queries, want %d", n, asked)
			}
			if again := resolve(t, b, tc.host, tc.qtype, other); again.Source != "hit" || again.TTL != first.TTL-7 {
				t.Errorf("node B again: %+v, want a hit from its own cache with %d s left", again, first.TTL-7)
			}
		})
	}
}

// TestL2RefreshOwnedByFetcher: an answer taken from the shared cache is refreshed by the node that fetched it,
// never by the nodes that took it; a refresh goes upstream (it never reads the shared cache) and writes what
// it fetched, and a node whose shared answer expired reads the refreshed one instead of asking upstream.
func TestL2RefreshOwnedByFetcher(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	l2a, l2b := newL2(t, addr, fleet.L2Config{}), newL2(t, addr, fleet.L2Config{})
	a := newEnv(t, envOptions{whitelist: "*.cdn-a.test subnet\n", l2: l2a})
	b := a.peer(t, l2b)
	host, client := "img.cdn-a.test", a.clientOf(t, 3, 10)
	first := resolve(t, a, host, TypeA, client)
	flush(t, l2a)
	if got := resolve(t, b, host, TypeA, client); got.Source != "l2" {
		t.Fatalf("node B: %+v, want the shared answer", got)
	}
	// In the last tenth of the TTL a hit refreshes in the background, on the node that fetched the answer only.
	a.clock.Advance(time.Duration(first.TTL-2) * time.Second)
	before := a.queries(host)
	if got := resolve(t, b, host, TypeA, client); got.Source != "hit" {
		t.Fatalf("node B near expiry: %+v, want a hit", got)
	}
	b.settle()
	if n := a.queries(host); n != before {
		t.Fatalf("node B refreshed an answer it took from the shared cache: %d upstream queries, want %d", n, before)
	}
	if got := resolve(t, a, host, TypeA, client); got.Source != "hit" {
		t.Fatalf("node A near expiry: %+v, want a hit", got)
	}
	a.settle()
	if n := a.queries(host); n != before+1 {
		t.Fatalf("node A's refresh: %d upstream queries, want %d", n, before+1)
	}
	flush(t, l2a)
	// B's copy expires (within the refresh grace, where B would serve its own answers stale and refresh
	// them): B's next request reads A's refreshed answer, with A's fetch time, and asks nobody upstream.
	a.clock.Advance(5 * time.Second)
	got := resolve(t, b, host, TypeA, client)
	if got.Source != "l2" || got.TTL != first.TTL-5 {
		t.Fatalf("node B after expiry: %+v, want A's refreshed answer with %d s left", got, first.TTL-5)
	}
	b.settle()
	if n := a.queries(host); n != before+1 {
		t.Errorf("node B asked upstream: %d queries, want %d", n, before+1)
	}
}

// TestL2PartsStayWithTheirClients: in a block the CDN answers per /20 part, another node's answer for one part
// serves that part's clients only; a client of another part asks upstream.
func TestL2PartsStayWithTheirClients(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	w := sharedWorld(t)
	block := coarseBlock(t)
	recs := []cidrdb.Record{{Network: block, BlockID: 7, Country: "XX", City: "Test", ISP: "Test"}}
	l2a := newL2(t, addr, fleet.L2Config{})
	a := newEnv(t, envOptions{whitelist: "*.cdn-a.test subnet\n", records: recs, l2: l2a})
	b := a.peer(t, newL2(t, addr, fleet.L2Config{}))
	host := "img.cdn-a.test" // honest CDN with /20 blocks
	inPart := w.ClientIn(netip.PrefixFrom(block.Addr(), 24), 10)
	samePart := w.ClientIn(netip.PrefixFrom(addrAdd(block.Addr(), 1<<8), 24), 10)   // same /20
	otherPart := w.ClientIn(netip.PrefixFrom(addrAdd(block.Addr(), 1<<12), 24), 10) // the next /20
	first := resolve(t, a, host, TypeA, inPart)
	flush(t, l2a)
	before := a.queries(host)
	if got := resolve(t, b, host, TypeA, otherPart); got.Source != "miss" || !slices.Equal(got.IPs, w.Truth(host, dns.TypeA, otherPart)) {
		t.Fatalf("other part on node B: %+v, want its own answer from upstream", got)
	}
	if n := a.queries(host); n != before+1 {
		t.Fatalf("other part: %d upstream queries, want %d", n, before+1)
	}
	// B's block entry now holds the other part; the first part's client still gets A's answer for it.
	got := resolve(t, b, host, TypeA, samePart)
	if got.Source != "l2" || !slices.Equal(got.IPs, first.IPs) || !slices.Equal(got.IPs, w.Truth(host, dns.TypeA, samePart)) {
		t.Fatalf("first part on node B: %+v, want A's answer %v", got, first.IPs)
	}
	if n := a.queries(host); n != before+1 {
		t.Errorf("first part on node B asked upstream: %d queries, want %d", n, before+1)
	}
}

// TestL2RedisDownBreaker: with Redis gone requests still succeed from upstream, each L2 attempt is bounded,
// and once the breaker opens a miss makes no Redis attempt at all.
func TestL2RedisDownBreaker(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	l2 := newL2(t, srv.Addr, fleet.L2Config{Timeout: 5 * time.Millisecond, TripAfter: 3, OpenFor: time.Hour})
	e := newEnv(t, envOptions{whitelist: "*.cdn-a.test subnet\n", l2: l2})
	srv.Stop()
	host := "img.cdn-a.test"
	for i := range 10 {
		start := time.Now()
		a := resolve(t, e, host, TypeA, e.clientOf(t, i, 10))
		if a.Source != "miss" || len(a.IPs) == 0 {
			t.Fatalf("request %d with Redis down: %+v, want an answer from upstream", i, a)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("request %d with Redis down took %v", i, d)
		}
	}
	// Failed writes of the answers fetched count towards the breaker too, so it may open before the third read.
	st := l2.Stats()
	if reads := st.Errors + st.Timeouts; reads == 0 || reads > 3 || reads+st.Skipped != 10 || st.Hits+st.Misses != 0 || !st.BreakerOpen {
		t.Fatalf("L2 after 10 misses with Redis down: %+v, want at most 3 failed reads, then the breaker open and the rest skipped", st)
	}
}

// TestL2RedisSlow: a Redis that does not answer costs a miss the L2 timeout, counted, and the answer comes
// from upstream.
func TestL2RedisSlow(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	l2 := newL2(t, addr, fleet.L2Config{Timeout: 100 * time.Millisecond})
	e := newEnv(t, envOptions{whitelist: "*.cdn-a.test subnet\n", l2: l2})
	host := "img.cdn-a.test"
	resolve(t, e, host, TypeA, e.clientOf(t, 1, 10)) // a pooled connection, so the pause is what the read meets
	before := l2.Stats().Timeouts                    // a loaded machine may time out even that read
	admin := fleet.NewClient([]string{addr}, "")
	defer admin.Close()
	if err := admin.Do(context.Background(), "CLIENT", "PAUSE", 1000, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	a := resolve(t, e, host, TypeA, e.clientOf(t, 2, 10))
	if a.Source != "miss" || len(a.IPs) == 0 {
		t.Fatalf("with Redis paused: %+v, want an answer from upstream", a)
	}
	if st := l2.Stats(); st.Timeouts != before+1 {
		t.Fatalf("L2 %+v, want 1 timeout more than the %d before the pause", st, before)
	}
}

func TestL2ValueRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.UnixMilli(1_800_000_000_123)
	for _, f := range []fetched{
		{key: cache.Key{Name: "a.test", Qtype: TypeA, Tier: cache.TierSubnet, Scope: "1.2.0.0/20"},
			entry: cache.Entry{IPs: []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("2.2.2.2")},
				TTL: 60, Fetched: at, Scope: netip.MustParsePrefix("1.2.0.0/22"),
				Parts: []netip.Prefix{netip.MustParsePrefix("1.2.0.0/22"), netip.MustParsePrefix("1.2.8.0/22")}},
			valid: netip.MustParsePrefix("1.2.8.0/22")},
		{key: cache.Key{Name: "a.test", Qtype: TypeA, Tier: cache.TierGlobal},
			entry: cache.Entry{Rcode: dns.RcodeNameError, TTL: 300, Fetched: at}},
		{key: cache.Key{Name: "a.test", Qtype: TypeA, Tier: cache.TierCityISP, Scope: "CN/Beijing/Telecom"},
			entry: cache.Entry{IPs: []netip.Addr{netip.MustParseAddr("2001:db8::1")}, TTL: 1, Fetched: at,
				Scope: netip.MustParsePrefix("2001:db8::/56")}},
	} {
		v := encodeL2(f)
		got, err := decodeL2(v, f.key.Name, f.key.Qtype)
		if err != nil {
			t.Fatalf("decoding %+v: %v", f, err)
		}
		if got.key != f.key || got.valid != f.valid || got.entry.Rcode != f.entry.Rcode || got.entry.TTL != f.entry.TTL ||
			!got.entry.Fetched.Equal(f.entry.Fetched) || got.entry.Scope != f.entry.Scope ||
			!slices.Equal(got.entry.IPs, f.entry.IPs) || !slices.Equal(got.entry.Parts, f.entry.Parts) {
			t.Fatalf("round trip: %+v, want %+v", got, f)
		}
		for n := range len(v) {
			if _, err := decodeL2(v[:n], f.key.Name, f.key.Qtype); err == nil {
				t.Fatalf("decoding the first %d of %d bytes succeeded", n, len(v))
			}
		}
		if _, err := decodeL2(append(v, 0), f.key.Name, f.key.Qtype); err == nil {
			t.Fatal("decoding with a trailing byte succeeded")
		}
	}
}

// FuzzDecodeL2: a value in Redis is input like any other (another version, another writer): decoding never
// panics, and what decodes encodes back to the same value.
func FuzzDecodeL2(f *testing.F) {
	f.Add(encodeL2(fetched{key: cache.Key{Tier: cache.TierSubnet, Scope: "1.2.0.0/20"},
		entry: cache.Entry{IPs: []netip.Addr{netip.MustParseAddr("1.1.1.1")}, TTL: 60,
			Parts: []netip.Prefix{netip.MustParsePrefix("1.2.0.0/22")}}, valid: netip.MustParsePrefix("1.2.0.0/22")}))
	f.Add([]byte{1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		got, err := decodeL2(v, "a.test", TypeA)
		if err != nil {
			return
		}
		again, err := decodeL2(encodeL2(got), "a.test", TypeA)
		if err != nil || again.key != got.key || again.valid != got.valid || again.entry.TTL != got.entry.TTL ||
			!again.entry.Fetched.Equal(got.entry.Fetched) || again.entry.Scope != got.entry.Scope ||
			!slices.Equal(again.entry.IPs, got.entry.IPs) || !slices.Equal(again.entry.Parts, got.entry.Parts) {
			t.Fatalf("%x decodes to %+v, which re-encoded decodes to %+v (%v)", v, got, again, err)
		}
	})
}

// BenchmarkResolveHitL2 measures a cache hit with and without a shared answer cache configured, in one run:
// the L2 is read on misses only, so the two must not differ. Needs redis-server:
//
//	go test -run='^$' -bench=ResolveHitL2 -benchmem ./resolver/
func BenchmarkResolveHitL2(b *testing.B) {
	addr := redistest.Start(b)
	for _, withL2 := range []bool{false, true} {
		name := "l2=off"
		if withL2 {
			name = "l2=on"
		}
		b.Run(name, func(b *testing.B) {
			var o envOptions
			o.whitelist = "img.cdn-a.test subnet\n"
			if withL2 {
				o.l2 = newL2(b, addr, fleet.L2Config{Timeout: fleet.DefaultL2Timeout})
			}
			benchHits(b, newEnv(b, o), "img.cdn-a.test")
		})
	}
}

// TestL2OnCluster: two nodes sharing a 3-master Redis Cluster share answers as on a single Redis.
func TestL2OnCluster(t *testing.T) {
	t.Parallel()
	addrs := redistest.StartCluster(t)
	cl := func() *fleet.L2 {
		rdb := fleet.NewClient(addrs, "")
		t.Cleanup(func() { rdb.Close() })
		l2, err := fleet.NewL2(rdb, fleet.L2Config{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l2.Close() })
		return l2
	}
	l2a := cl()
	a := newEnv(t, envOptions{whitelist: "*.test subnet\n", l2: l2a})
	b := a.peer(t, cl())
	hosts := []string{"img.cdn-a.test", "live.cdn-b.test", "static.cdn-c.test", "nothing.cdn-a.test"}
	for i, h := range hosts {
		resolve(t, a, h, TypeA, a.clientOf(t, i, 10))
	}
	flush(t, l2a)
	for i, h := range hosts {
		if got := resolve(t, b, h, TypeA, a.clientOf(t, i, 20)); got.Source != "l2" {
			t.Errorf("node B, %s: %+v, want the answer A stored in the cluster", h, got)
		}
	}
}

// TestL2IgnoresImplausibleValues: a value under the key that no resolver could have written — a "part" wider
// than the block, or of another tier — is not used: the miss goes upstream.
func TestL2IgnoresImplausibleValues(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	l2 := newL2(t, addr, fleet.L2Config{})
	e := newEnv(t, envOptions{whitelist: "*.cdn-a.test subnet\n", l2: l2})
	host := "img.cdn-a.test"
	for i, tc := range []struct {
		name  string
		tier  cache.Tier
		valid func(c netip.Addr) netip.Prefix
	}{
		{"part wider than the block", cache.TierSubnet, func(c netip.Addr) netip.Prefix { p, _ := c.Prefix(8); return p }},
		{"part finer than the source", cache.TierSubnet, func(c netip.Addr) netip.Prefix { p, _ := c.Prefix(28); return p }},
		{"part of another tier", cache.TierCityISP, func(c netip.Addr) netip.Prefix { p, _ := c.Prefix(24); return p }},
	} {
		client := e.clientOf(t, 40+i, 10)
		req := e.r.classify(host, TypeA, client)
		fill := req.tierKey()
		bogus := fetched{key: cache.Key{Name: host, Qtype: TypeA, Tier: tc.tier, Scope: "x"}, valid: tc.valid(client),
			entry: cache.Entry{IPs: []netip.Addr{netip.MustParseAddr("192.0.2.66")}, TTL: 300, Fetched: e.clock.Now()}}
		l2.Put(fill, encodeL2(bogus), time.Minute)
		flush(t, l2)
		if a := resolve(t, e, host, TypeA, client); a.Source != "miss" || slices.Contains(a.IPs, netip.MustParseAddr("192.0.2.66")) {
			t.Errorf("%s: %+v, want the bogus value ignored and the answer from upstream", tc.name, a)
		}
	}
}

// TestL2RefusesImplausibleAnswers: a value anyone could have written to Redis that decodes but that no node
// of the fleet would have stored — a TTL over the clamps, a fetch time in the future, addresses of the other
// family, twice the same address, an NXDOMAIN with addresses — is not cached or served: the miss goes
// upstream and the value counts as corrupt.
func TestL2RefusesImplausibleAnswers(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	l2 := newL2(t, addr, fleet.L2Config{})
	e := newEnv(t, envOptions{whitelist: "*.cdn-a.test subnet\n", l2: l2})
	host, bogusIP := "img.cdn-a.test", netip.MustParseAddr("192.0.2.66")
	now := e.clock.Now()
	for i, tc := range []struct {
		name  string
		entry cache.Entry
	}{
		{"ttl of ten years", cache.Entry{IPs: []netip.Addr{bogusIP}, TTL: 10 * 365 * 86400, Fetched: now}},
		{"ttl over max_ttl", cache.Entry{IPs: []netip.Addr{bogusIP}, TTL: 3601, Fetched: now}},
		{"negative ttl over negative max", cache.Entry{Rcode: dns.RcodeNameError, TTL: 3600, Fetched: now}},
		{"fetched in a year", cache.Entry{IPs: []netip.Addr{bogusIP}, TTL: 300, Fetched: now.AddDate(1, 0, 0)}},
		{"IPv6 for A", cache.Entry{IPs: []netip.Addr{netip.MustParseAddr("2001:db8::66")}, TTL: 300, Fetched: now}},
		{"IPv4-mapped for A", cache.Entry{IPs: []netip.Addr{netip.MustParseAddr("::ffff:192.0.2.66")}, TTL: 300, Fetched: now}},
		{"duplicate addresses", cache.Entry{IPs: []netip.Addr{bogusIP, bogusIP}, TTL: 300, Fetched: now}},
		{"NXDOMAIN with addresses", cache.Entry{Rcode: dns.RcodeNameError, IPs: []netip.Addr{bogusIP}, TTL: 60, Fetched: now}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := e.clientOf(t, 50+i, 10)
			req := e.r.classify(host, TypeA, client)
			fill := req.tierKey()
			l2.Put(fill, encodeL2(fetched{key: fill, entry: tc.entry}), time.Minute)
			flush(t, l2)
			before := l2Corrupt(t, e)
			a := resolve(t, e, host, TypeA, client)
			if a.Source != "miss" || slices.Contains(a.IPs, bogusIP) || a.TTL > 3600 {
				t.Fatalf("%+v, want the value refused and the answer from upstream", a)
			}
			if got := l2Corrupt(t, e); got != before+1 {
				t.Errorf("corrupt values %v, want %v", got, before+1)
			}
		})
	}
	// The control: the same shape within bounds is used.
	client := e.clientOf(t, 70, 10)
	req := e.r.classify(host, TypeA, client)
	fill := req.tierKey()
	l2.Put(fill, encodeL2(fetched{key: fill, entry: cache.Entry{IPs: []netip.Addr{bogusIP}, TTL: 3600,
		Fetched: now.Add(30 * time.Second)}}), time.Minute)
	flush(t, l2)
	if a := resolve(t, e, host, TypeA, client); a.Source != "l2" || !slices.Equal(a.IPs, []netip.Addr{bogusIP}) {
		t.Fatalf("a plausible value: %+v, want it used", a)
	}
}

// l2Corrupt is e's count of shared-cache values refused as corrupt (0 before the first).
func l2Corrupt(t *testing.T, e *env) float64 {
	t.Helper()
	v, _ := findCounter(t, e.reg, "httpdns_resolver_l2_values_total", "result", "corrupt")
	return v
}
