package resolver

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
	"github.com/miekg/dns"
)

// fixedLoc puts 1.2.0.0/20 in one block and every other /24 in a city named by its second octet.
type fixedLoc struct{}

func (fixedLoc) Locate(a netip.Addr) cidrdb.Location {
	blk := netip.MustParsePrefix("1.2.0.0/20")
	if blk.Contains(a) {
		return cidrdb.Location{Addr: a, Block: blk, Network: blk, Country: "XX", City: "C", ISP: "I"}
	}
	p, _ := a.Prefix(24)
	b := a.As4()
	return cidrdb.Location{Addr: a, Block: p, Network: p, Country: "XX", City: string(rune('A' + b[1])), ISP: "I"}
}

// fixedPolicy gives every name one rule.
type fixedPolicy struct{ rule Rule }

func (f fixedPolicy) Lookup(string) Rule { return f.rule }

// scriptedDNS is an authoritative whose answers a test scripts per ECS source prefix.
type scriptedDNS struct {
	mu      sync.Mutex
	h       func(src netip.Prefix) (ip netip.Addr, scope uint8, rcode int)
	delay   time.Duration
	queries atomic.Int64
}

func (f *scriptedDNS) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	f.queries.Add(1)
	time.Sleep(f.delay)
	m := new(dns.Msg)
	m.SetReply(q)
	var src netip.Prefix
	var ecs *dns.EDNS0_SUBNET
	if o := q.IsEdns0(); o != nil {
		for _, op := range o.Option {
			if e, ok := op.(*dns.EDNS0_SUBNET); ok {
				ecs = e
				a, _ := netip.AddrFromSlice(e.Address)
				src = netip.PrefixFrom(a.Unmap(), int(e.SourceNetmask))
			}
		}
	}
	f.mu.Lock()
	ip, scope, rcode := f.h(src)
	f.mu.Unlock()
	m.Rcode = rcode
	if rcode == 0 && ip.IsValid() {
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IP(ip.AsSlice())})
	}
	if rcode != 0 || !ip.IsValid() {
		m.Ns = append(m.Ns, &dns.SOA{Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60}, Ns: "ns.test.", Mbox: "h.test.", Minttl: 60})
	}
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.SetUDPSize(1232)
	if ecs != nil {
		e := *ecs
		e.SourceScope = scope
		opt.Option = append(opt.Option, &e)
	}
	m.Extra = append(m.Extra, opt)
	w.WriteMsg(m)
}

func (f *scriptedDNS) set(h func(src netip.Prefix) (netip.Addr, uint8, int)) {
	f.mu.Lock()
	f.h = h
	f.mu.Unlock()
}

func startScripted(t *testing.T, f *scriptedDNS) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: f}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func newScripted(t *testing.T, f *scriptedDNS, rule Rule) (*Resolver, *cache.Cache, *clock) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c, err := cache.New(cache.Config{MaxBytes: 16 << 20, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	r, err := New(Config{Upstreams: []string{startScripted(t, f)}, Locator: fixedLoc{}, Cache: c, Policy: fixedPolicy{rule}, Now: clk.Now, HedgeMin: -1, SweepInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, c, clk
}

// perSubnet answers 10.0.<2nd octet>.<3rd octet> of the source with the given scope.
func perSubnet(scope uint8) func(src netip.Prefix) (netip.Addr, uint8, int) {
	return func(src netip.Prefix) (netip.Addr, uint8, int) {
		b := src.Addr().As4()
		return netip.AddrFrom4([4]byte{10, 0, b[1], b[2]}), scope, 0
	}
}

func global9(netip.Prefix) (netip.Addr, uint8, int) { return netip.MustParseAddr("9.9.9.9"), 0, 0 }

func ask(t *testing.T, r *Resolver, c *cache.Cache, client string) (Answer, error) {
	t.Helper()
	a, err := r.Resolve(context.Background(), Query{Name: "x.test", Qtype: TypeA, Client: netip.MustParseAddr(client)})
	r.wg.Wait()
	c.Wait()
	return a, err
}

func TestRegressScopedRefreshLeavesGlobalKey(t *testing.T) {
	t.Parallel()
	f := &scriptedDNS{}
	f.set(global9)
	r, c, clk := newScripted(t, f, Rule{Tier: cache.TierCityISP})
	ask(t, r, c, "1.5.1.1") // scope 0: cached globally
	f.set(perSubnet(24))    // the CDN starts answering per subnet
	clk.Advance(55 * time.Second)
	ask(t, r, c, "1.6.1.1") // a hit in the last 10% refreshes, now with this client's ECS
	if a, _ := ask(t, r, c, "1.7.7.7"); a.IPs[0] == netip.MustParseAddr("10.0.6.1") {
		t.Errorf("client 1.7.7.7 got %v, another city's answer, from tier %s", a.IPs, a.Tier)
	}
}

func TestRegressWaiterOutsideLeadersPart(t *testing.T) {
	t.Parallel()
	f := &scriptedDNS{delay: 100 * time.Millisecond}
	f.set(func(src netip.Prefix) (netip.Addr, uint8, int) {
		b := src.Addr().As4()
		return netip.AddrFrom4([4]byte{10, 0, b[1], b[2] &^ 3}), 22, 0
	})
	r, _, _ := newScripted(t, f, Rule{Tier: cache.TierSubnet})
	var wg sync.WaitGroup
	res := make([]Answer, 2)
	for i, cl := range []string{"1.2.0.5", "1.2.8.5"} {
		wg.Go(func() {
			if i == 1 {
				time.Sleep(20 * time.Millisecond) // join the first client's flight
			}
			res[i], _ = r.Resolve(context.Background(), Query{Name: "x.test", Qtype: TypeA, Client: netip.MustParseAddr(cl)})
		})
	}
	wg.Wait()
	if len(res[1].IPs) != 1 || res[1].IPs[0] != netip.MustParseAddr("10.0.2.8") {
		t.Errorf("client 1.2.8.5 (part 1.2.8.0/22) got %v, want its own part's 10.0.2.8", res[1].IPs)
	}
}

func TestRegressServfailKeepsGlobalStale(t *testing.T) {
	t.Parallel()
	f := &scriptedDNS{}
	f.set(global9)
	r, c, clk := newScripted(t, f, Rule{Tier: cache.TierCityISP})
	ask(t, r, c, "1.5.1.1")
	f.set(func(netip.Prefix) (netip.Addr, uint8, int) { return netip.Addr{}, 0, dns.RcodeServerFailure })
	clk.Advance(time.Hour)
	for i := range 3 {
		// The scope-0 answer was cached for this client's key only (not name-wide): that is the one served stale.
		if a, err := ask(t, r, c, "1.5.1.1"); err != nil || a.Source != "stale" || a.Tier != "cityisp" {
			t.Errorf("request %d during the outage: %+v %v, want the stale answer", i, a, err)
		}
	}
}

func TestRegressChangedAnswerForSamePartDoesNotSplit(t *testing.T) {
	t.Parallel()
	f := &scriptedDNS{}
	n := 0
	f.set(func(netip.Prefix) (netip.Addr, uint8, int) {
		n++
		return netip.AddrFrom4([4]byte{10, 0, 0, byte(n)}), 22, 0
	})
	r, c, clk := newScripted(t, f, Rule{Tier: cache.TierSubnet})
	ask(t, r, c, "1.2.0.5")
	clk.Advance(55 * time.Second)
	ask(t, r, c, "1.2.0.5") // refreshed: the same part, another answer
	e, _ := c.Peek(cache.Key{Name: "x.test", Qtype: TypeA, Tier: cache.TierSubnet, Scope: "1.2.0.0/20"})
	if e.Split || len(e.IPs) != 1 || e.IPs[0] != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("block entry after the same part changed: %+v, want the new answer, not a split", e)
	}
}

func TestRegressNoOtherPartsAnswerWhenUpstreamsFail(t *testing.T) {
	t.Parallel()
	f := &scriptedDNS{}
	f.set(func(src netip.Prefix) (netip.Addr, uint8, int) {
		b := src.Addr().As4()
		return netip.AddrFrom4([4]byte{10, 0, b[1], b[2] &^ 3}), 22, 0
	})
	r, c, _ := newScripted(t, f, Rule{Tier: cache.TierSubnet})
	ask(t, r, c, "1.2.0.5")
	f.set(func(netip.Prefix) (netip.Addr, uint8, int) { return netip.Addr{}, 0, dns.RcodeServerFailure })
	if a, err := ask(t, r, c, "1.2.8.5"); err == nil {
		t.Errorf("client of an unconfirmed part got %v during an outage, another part's answer", a.IPs)
	}
}

func TestRegressActiveRefreshOfGlobalNames(t *testing.T) {
	t.Parallel()
	for _, tier := range []cache.Tier{cache.TierGlobal, cache.TierCityISP} {
		f := &scriptedDNS{}
		f.set(global9)
		r, c, clk := newScripted(t, f, Rule{Tier: tier, Refresh: RefreshActive})
		for range 3 {
			ask(t, r, c, "1.5.1.1")
		}
		before := f.queries.Load()
		for range 56 { // 56 s of sweeps: one refresh at 80–90% of the 60 s TTL, no more
			clk.Advance(time.Second)
			r.Sweep()
			r.wg.Wait()
			c.Wait()
		}
		if got := f.queries.Load() - before; got != 1 {
			t.Errorf("tier %v: %d refreshes in 56 s of a 60 s answer asked 3 times, want 1", tier, got)
		}
	}
}

// subSlash24Loc is a learnt block of three networks, one of them finer than /24: 1.3.0.64/26,
// 1.3.0.128/25 and 1.3.1.0/24 (the CDN cuts 1.3.0.0/24, and its first /26 is another block).
type subSlash24Loc struct{}

func (subSlash24Loc) Locate(a netip.Addr) cidrdb.Location {
	block := netip.MustParsePrefix("1.3.0.64/26")
	for _, n := range []string{"1.3.0.64/26", "1.3.0.128/25", "1.3.1.0/24"} {
		if p := netip.MustParsePrefix(n); p.Contains(a) {
			return cidrdb.Location{Addr: a, Block: block, Network: p, BlockID: 7, Country: "XX", City: "C", ISP: "I"}
		}
	}
	p, _ := a.Prefix(26)
	return cidrdb.Location{Addr: a, Block: p, Network: p, BlockID: 8, Country: "XX", City: "C", ISP: "I"}
}

func TestRegressAnswerForASplitSlash24StaysOutOfTheBlock(t *testing.T) {
	t.Parallel()
	f := &scriptedDNS{}
	// An honest CDN: 1.3.0.0/26 goes to 10.0.0.1 (scope 26); everything else in the block to 10.0.0.2.
	f.set(func(src netip.Prefix) (netip.Addr, uint8, int) {
		if src.Addr() == netip.MustParseAddr("1.3.0.0") {
			return netip.MustParseAddr("10.0.0.1"), 26, 0
		}
		return netip.MustParseAddr("10.0.0.2"), 24, 0
	})
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c, err := cache.New(cache.Config{MaxBytes: 16 << 20, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	r, err := New(Config{Upstreams: []string{startScripted(t, f)}, Locator: subSlash24Loc{}, Cache: c,
		Policy: fixedPolicy{Rule{Tier: cache.TierSubnet}}, Now: clk.Now, HedgeMin: -1, SweepInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	// A client of 1.3.0.64/26 can only be asked for as 1.3.0.0/24, and gets the /24's answer: what
	// any resolver sending /24 sources gets. That answer must not become the block's.
	a, err := ask(t, r, c, "1.3.0.70")
	if err != nil {
		t.Fatal(err)
	}
	if a.Scope != "1.3.0.0/24" {
		t.Errorf("client of a sub-/24 network cached under %q, want its /24", a.Scope)
	}
	b, err := ask(t, r, c, "1.3.1.5")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.IPs) != 1 || b.IPs[0] != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("client 1.3.1.5 of the block got %v, the answer for 1.3.0.0/26", b.IPs)
	}
	if b.Scope != "1.3.0.64/26" {
		t.Errorf("client 1.3.1.5 cached under %q, want the block 1.3.0.64/26", b.Scope)
	}
	// Now the block's answer, fetched for a wider network of the block, serves the sub-/24 client
	// too: it is the one the CDN means for it.
	a, err = ask(t, r, c, "1.3.0.70")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.IPs) != 1 || a.IPs[0] != netip.MustParseAddr("10.0.0.2") || a.Scope != "1.3.0.64/26" || a.Source != "hit" {
		t.Errorf("client 1.3.0.70 got %v from %q (%s), want its block's 10.0.0.2 from the cache", a.IPs, a.Scope, a.Source)
	}
	// Its passive refresh, near the end of the TTL, is left to the block's own clients.
	before := f.queries.Load()
	clk.Advance(57 * time.Second)
	ask(t, r, c, "1.3.0.70")
	if q := f.queries.Load(); q != before {
		t.Errorf("a borrowed answer was refreshed for the sub-/24 client: %d queries, want %d", q, before)
	}
}

func TestRegressEchoForAnotherPartKeepsConfirmedParts(t *testing.T) {
	t.Parallel()
	f := &scriptedDNS{}
	// The CDN scopes 1.2.0.0/22 of the /20 block to 10.0.0.1 and answers the rest with 10.0.0.2,
	// echoing the source prefix as its scope.
	f.set(func(src netip.Prefix) (netip.Addr, uint8, int) {
		if netip.MustParsePrefix("1.2.0.0/22").Contains(src.Addr()) {
			return netip.MustParseAddr("10.0.0.1"), 22, 0
		}
		return netip.MustParseAddr("10.0.0.2"), 24, 0
	})
	r, c, _ := newScripted(t, f, Rule{Tier: cache.TierSubnet})
	ask(t, r, c, "1.2.0.5")
	if a, _ := ask(t, r, c, "1.2.8.5"); len(a.IPs) != 1 || a.IPs[0] != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("client of another part: %+v, want 10.0.0.2", a)
	}
	if a, _ := ask(t, r, c, "1.2.0.6"); len(a.IPs) != 1 || a.IPs[0] != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("client of the confirmed part 1.2.0.0/22: %+v, want its own 10.0.0.1", a)
	}
}

func TestRegressActiveRefreshAsksForAConfirmedPart(t *testing.T) {
	t.Parallel()
	f := &scriptedDNS{}
	p1 := netip.MustParsePrefix("1.2.0.0/22")
	f.set(func(src netip.Prefix) (netip.Addr, uint8, int) {
		if p1.Contains(src.Addr()) {
			return netip.MustParseAddr("10.0.0.1"), 22, 0
		}
		return netip.Addr{}, 0, dns.RcodeServerFailure // another part's fetch fails
	})
	r, c, clk := newScripted(t, f, Rule{Tier: cache.TierSubnet, Refresh: RefreshActive})
	for range 3 {
		ask(t, r, c, "1.2.0.5") // the block's answer, confirmed for 1.2.0.0/22, in demand
	}
	if _, err := ask(t, r, c, "1.2.8.5"); err == nil {
		t.Fatal("another part's fetch did not fail")
	}
	// The CDN now answers other parts by echoing the source prefix.
	f.set(func(src netip.Prefix) (netip.Addr, uint8, int) {
		if p1.Contains(src.Addr()) {
			return netip.MustParseAddr("10.0.0.1"), 22, 0
		}
		return netip.MustParseAddr("10.0.0.2"), 24, 0
	})
	clk.Advance(55 * time.Second) // past every key's refresh point
	r.Sweep()
	r.wg.Wait()
	c.Wait()
	if a, _ := ask(t, r, c, "1.2.0.6"); len(a.IPs) != 1 || a.IPs[0] != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("client of the confirmed part after an active refresh: %+v, want its own 10.0.0.1", a)
	}
}
