package resolver

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/dnsmsg"
	"github.com/httpdns/httpdns/internal/dnstest"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// accWorld is a scripted ECS authority on a real DNS server: a name's answer depends on the /24 of
// the query's ECS source (edge per /24, default edge for the rest), echoing the source as scope.
// "nx." names are NXDOMAIN, "nodata." names NODATA; fail makes every reply SERVFAIL.
type accWorld struct {
	rec *dnstest.Recorder

	mu    sync.Mutex
	edges map[netip.Prefix][]netip.Addr // by /24 (IPv6 /56) source
	scope map[netip.Prefix]uint8        // the scope a source gets instead of its own length
	fail  bool
	nxAs  int // the rcode "nx." names get: NXDOMAIN, or NOERROR for NODATA
	block chan struct{}
}

var defaultEdge = []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")}

func newAccWorld() *accWorld {
	w := &accWorld{edges: map[netip.Prefix][]netip.Addr{}, scope: map[netip.Prefix]uint8{}, nxAs: dns.RcodeNameError}
	w.rec = &dnstest.Recorder{Reply: w.reply}
	return w
}

func (w *accWorld) set(src string, ips ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var as []netip.Addr
	for _, s := range ips {
		as = append(as, netip.MustParseAddr(s))
	}
	w.edges[netip.MustParsePrefix(src)] = as
}

func (w *accWorld) setFail(f bool)  { w.mu.Lock(); w.fail = f; w.mu.Unlock() }
func (w *accWorld) setNX(rcode int) { w.mu.Lock(); w.nxAs = rcode; w.mu.Unlock() }

func (w *accWorld) reply(q *dns.Msg) *dns.Msg {
	w.mu.Lock()
	block := w.block
	w.mu.Unlock()
	if block != nil && dnsmsg.ECS(q) != nil {
		<-block
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	m := new(dns.Msg).SetReply(q)
	src, hasECS := netip.Prefix{}, false
	if e := dnsmsg.ECS(q); e != nil {
		src, hasECS = dnsmsg.ECSPrefix(e)
		m.SetEdns0(dnsmsg.UDPSize, false)
		echo := *e
		echo.SourceScope = e.SourceNetmask
		if sc, ok := w.scope[src]; ok {
			echo.SourceScope = sc
		}
		m.IsEdns0().Option = append(m.IsEdns0().Option, &echo)
	}
	name := q.Question[0].Name
	soa, _ := dns.NewRR("acc.test. 60 IN SOA ns.acc.test. h.acc.test. 1 60 60 60 60")
	switch {
	case w.fail:
		m.Rcode = dns.RcodeServerFailure
		return m
	case strings.HasPrefix(name, "nx."):
		m.Rcode = w.nxAs
		m.Ns = append(m.Ns, soa)
		return m
	case strings.HasPrefix(name, "nodata."):
		m.Ns = append(m.Ns, soa)
		return m
	}
	ips := defaultEdge
	if hasECS {
		if e, ok := w.edges[src]; ok {
			ips = e
		}
	}
	for _, a := range ips {
		rr, _ := dns.NewRR(name + " 300 IN A " + a.String())
		m.Answer = append(m.Answer, rr)
	}
	return m
}

// ecsSent returns the ECS sources of the queries for name received so far, "" for none.
func (w *accWorld) ecsSent(name string) []string {
	var out []string
	for _, q := range w.rec.Queries() {
		if q.Question[0].Name != dns.Fqdn(name) {
			continue
		}
		s := ""
		if e := dnsmsg.ECS(q); e != nil {
			p, _ := dnsmsg.ECSPrefix(e)
			s = p.String()
		}
		out = append(out, s)
	}
	return out
}

// blockLoc puts every IPv4 client in its /20 block, all in one city and ISP.
type blockLoc struct{}

func (blockLoc) Locate(a netip.Addr) cidrdb.Location {
	p, _ := a.Prefix(20)
	return cidrdb.Location{Addr: a, Block: p, Network: p, Country: "CN", City: "Shenzhen", ISP: "Telecom"}
}

// tierPolicy gives names under sub. the subnet tier, under glob. the global tier, others city+ISP.
type tierPolicy struct{}

func (tierPolicy) Lookup(name string) Rule {
	switch {
	case strings.HasPrefix(name, "sub."), strings.HasPrefix(name, "nx."):
		return Rule{Tier: cache.TierSubnet}
	case strings.HasPrefix(name, "glob."):
		return Rule{Tier: cache.TierGlobal}
	}
	return Rule{Tier: cache.TierCityISP}
}

type accEnv struct {
	w      *accWorld
	r      *Resolver
	c      *cache.Cache
	clock  *clock
	splits *splits
	reg    *prometheus.Registry
}

func newAccEnv(t *testing.T, acc AccuracyConfig, qps float64) *accEnv {
	t.Helper()
	e := &accEnv{w: newAccWorld(), clock: &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		splits: &splits{}, reg: prometheus.NewRegistry()}
	var err error
	e.c, err = cache.New(cache.Config{MaxBytes: 16 << 20, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.c.Close)
	e.r, err = New(Config{Upstreams: []string{dnstest.Start(t, e.w.rec)}, Locator: blockLoc{}, Cache: e.c,
		Policy: tierPolicy{}, Splits: e.splits, HedgeMin: -1, SweepInterval: time.Hour, PrefetchSiblings: -1,
		UpstreamQPS: qps, Accuracy: acc, Registerer: e.reg, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.r.Close() })
	return e
}

// resolve answers name for client and waits for the check it may have started.
func (e *accEnv) resolve(t *testing.T, name, client string) Answer {
	t.Helper()
	a, err := e.r.Resolve(context.Background(), Query{Name: name, Qtype: TypeA, Client: netip.MustParseAddr(client)})
	if err != nil {
		t.Fatalf("%s for %s: %v", name, client, err)
	}
	e.r.wg.Wait()
	e.c.Wait()
	return a
}

func (e *accEnv) counts(tier string) map[string]uint64 { return e.r.Accuracy().Counts[tier] }

func TestAccuracyCheck(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t, AccuracyConfig{Sample: 1}, 0)
	const name = "sub.acc.test"
	// Two /24s of one /20 block: the CDN sends 20.1.5.0/24 to another edge.
	e.w.set("20.1.5.0/24", "203.0.113.7", "203.0.113.8")

	a := e.resolve(t, name, "20.1.2.3")
	if a.Source != "miss" || a.Scope != "20.1.0.0/20" {
		t.Fatalf("first answer %+v", a)
	}
	if got, want := e.w.ecsSent(name), []string{"20.1.2.0/24", "20.1.2.0/24"}; !slices.Equal(got, want) {
		t.Fatalf("ECS sent %v, want %v (the miss, then its check)", got, want)
	}
	if c := e.counts("subnet"); c[CheckMatch] != 1 || c[CheckMismatch] != 0 {
		t.Fatalf("after the miss: %v", c)
	}

	t.Run("a hit from another /24 of the block is asked with that /24 and misses its edge", func(t *testing.T) {
		a := e.resolve(t, name, "20.1.5.9")
		if a.Source != "hit" || !slices.Equal(a.IPs, defaultEdge) {
			t.Fatalf("answer %+v", a)
		}
		sent := e.w.ecsSent(name)
		if len(sent) != 3 || sent[2] != "20.1.5.0/24" {
			t.Fatalf("ECS sent %v: want exactly one more query, with 20.1.5.0/24", sent)
		}
		if c := e.counts("subnet"); c[CheckMismatch] != 1 {
			t.Errorf("counts %v, want one mismatch", c)
		}
		rep := e.r.Accuracy()
		if len(rep.Mismatches) != 1 {
			t.Fatalf("log %+v", rep.Mismatches)
		}
		m := rep.Mismatches[0]
		want := Mismatch{Time: e.clock.Now(), Name: name, Qtype: TypeA, Client: netip.MustParsePrefix("20.1.5.0/24"),
			Served: defaultEdge, Fresh: []netip.Addr{netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("203.0.113.8")},
			Tier: "subnet", Key: "20.1.0.0/20", Scope: 24, Source: "hit"}
		if !mismatchEqual(m, want) {
			t.Errorf("logged %+v\nwant   %+v", m, want)
		}
	})
	t.Run("nothing the check learnt is stored", func(t *testing.T) {
		a := e.resolve(t, name, "20.1.5.10")
		if a.Source != "hit" || !slices.Equal(a.IPs, defaultEdge) {
			t.Errorf("answer after the check %+v: the check's answer replaced the block's", a)
		}
		if _, ok := e.c.Peek(cache.Key{Name: name, Qtype: TypeA, Tier: cache.TierSubnet, Scope: "20.1.5.0/24"}); ok {
			t.Error("the check stored its answer under the /24")
		}
	})
	t.Run("a subnet-tier mismatch is a split signal marked as a check's", func(t *testing.T) {
		e.splits.mu.Lock()
		defer e.splits.mu.Unlock()
		if len(e.splits.got) != 2 {
			t.Fatalf("split signals %+v, want one for each mismatch", e.splits.got)
		}
		s := e.splits.got[0]
		if !s.Check || s.Name != name || s.Source != netip.MustParsePrefix("20.1.5.0/24") ||
			s.Block != netip.MustParsePrefix("20.1.0.0/20") || s.Scope != s.Source || len(s.Answer) != 2 {
			t.Errorf("split signal %+v", s)
		}
	})
	t.Run("an edge's rotated addresses match", func(t *testing.T) {
		e.w.set("20.1.5.0/24", "198.51.100.9") // the served edge's /24, another address
		defer e.w.set("20.1.5.0/24", "203.0.113.7", "203.0.113.8")
		if e.resolve(t, name, "20.1.5.11"); e.counts("subnet")[CheckMatch] != 2 {
			t.Errorf("counts %v, want a second match", e.counts("subnet"))
		}
	})
	t.Run("a failed check is unknown", func(t *testing.T) {
		e.w.setFail(true)
		defer e.w.setFail(false)
		if e.resolve(t, name, "20.1.6.1"); e.counts("subnet")[CheckUnknown] != 1 {
			t.Errorf("counts %v, want one unknown", e.counts("subnet"))
		}
	})
	t.Run("a stale answer is unknown and not asked", func(t *testing.T) {
		before := len(e.w.ecsSent(name))
		e.clock.Advance(310 * time.Second) // past the 300s TTL, within the 30s refresh grace
		e.w.setFail(true)                  // the refresh it starts fails, so it stays stale
		a := e.resolve(t, name, "20.1.2.4")
		e.w.setFail(false)
		if a.Source != "stale" {
			t.Fatalf("answer %+v, want stale", a)
		}
		if got := len(e.w.ecsSent(name)) - before; got != 1 {
			t.Errorf("%d queries, want only the refresh's", got)
		}
		if c := e.counts("subnet"); c[CheckUnknown] != 2 {
			t.Errorf("counts %v, want a second unknown", c)
		}
	})
	t.Run("the other tiers count under their own label", func(t *testing.T) {
		e.resolve(t, "city.acc.test", "20.1.2.3")
		e.resolve(t, "city.acc.test", "20.1.5.3")
		if c := e.counts("cityisp"); c[CheckMatch] != 1 || c[CheckMismatch] != 1 {
			t.Errorf("cityisp counts %v", c)
		}
		if n := e.splits.Len(); n != 2 {
			t.Errorf("%d split signals: a city+ISP mismatch made one", n)
		}
	})
	t.Run("a global name is checked with the client's ECS", func(t *testing.T) {
		e.resolve(t, "glob.acc.test", "20.1.5.3")
		if got := e.w.ecsSent("glob.acc.test"); !slices.Equal(got, []string{"", "20.1.5.0/24"}) {
			t.Errorf("ECS sent %v: the fetch without, the check with the client's /24", got)
		}
		if c := e.counts("global"); c[CheckMismatch] != 1 {
			t.Errorf("global counts %v", c)
		}
	})
	t.Run("negative answers", func(t *testing.T) {
		e.resolve(t, "nx.acc.test", "20.1.2.3") // NXDOMAIN both times
		if c := e.counts("global"); c[CheckMatch] != 1 {
			t.Errorf("the same NXDOMAIN: global counts %v", c)
		}
		e.w.setNX(dns.RcodeSuccess) // NODATA now
		e.resolve(t, "nx.acc.test", "20.1.2.3")
		if c := e.counts("global"); c[CheckUnknown] != 1 {
			t.Errorf("NXDOMAIN served, NODATA fresh: global counts %v", c)
		}
	})
	t.Run("a client never sent as ECS is skipped", func(t *testing.T) {
		e.resolve(t, "city.acc.test", "10.1.2.3")
		if n := e.r.Accuracy().Skipped[SkipNoECS]; n != 1 {
			t.Errorf("no_ecs skips %d", n)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		if v := counterValue(t, e.reg, "httpdns_accuracy_checks_total", "tier", "subnet", "result", "mismatch"); v != 2 {
			t.Errorf("subnet mismatches %v", v)
		}
		if v := counterValue(t, e.reg, "httpdns_accuracy_checks_skipped_total", "reason", "no_ecs"); v != 1 {
			t.Errorf("no_ecs skips %v", v)
		}
	})
}

// TestAccuracyCheckSplitSlash24: when the CDN answers a check for a part of the client's /24 (a
// scope finer than /24), the answer is judged only for a client in that part.
func TestAccuracyCheckSplitSlash24(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t, AccuracyConfig{Sample: 1}, 0)
	const name = "sub.acc.test"
	e.resolve(t, name, "20.1.2.3") // the block's answer: the default edge
	e.w.mu.Lock()
	e.w.edges[netip.MustParsePrefix("20.1.7.0/24")] = []netip.Addr{netip.MustParseAddr("203.0.113.7")}
	e.w.scope[netip.MustParsePrefix("20.1.7.0/24")] = 26 // the answer holds for 20.1.7.0/26 only
	e.w.mu.Unlock()
	e.resolve(t, name, "20.1.7.200")
	if c := e.counts("subnet"); c[CheckUnknown] != 1 || c[CheckMismatch] != 0 {
		t.Errorf("a client outside the answered part: %v, want unknown", c)
	}
	e.resolve(t, name, "20.1.7.5")
	if c := e.counts("subnet"); c[CheckMismatch] != 1 {
		t.Errorf("a client inside the answered part: %v, want a mismatch", c)
	}
	e.splits.mu.Lock()
	defer e.splits.mu.Unlock()
	if n := len(e.splits.got); n != 1 || e.splits.got[0].Scope != netip.MustParsePrefix("20.1.7.0/26") {
		t.Errorf("split signals %+v, want the mismatch's, scoped to the part", e.splits.got)
	}
}

// TestAccuracyCheckIPv6: an IPv6 client's check asks with its /56.
func TestAccuracyCheckIPv6(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t, AccuracyConfig{Sample: 1}, 0)
	e.resolve(t, "city.acc.test", "2400:cb00:1:2345::5")
	if got, want := e.w.ecsSent("city.acc.test"), []string{"2400:cb00:1:2300::/56", "2400:cb00:1:2300::/56"}; !slices.Equal(got, want) {
		t.Errorf("ECS sent %v, want %v (the miss, then its check)", got, want)
	}
	if c := e.counts("cityisp"); c[CheckMatch] != 1 {
		t.Errorf("counts %v", c)
	}
}

func mismatchEqual(a, b Mismatch) bool {
	return a.Time.Equal(b.Time) && a.Name == b.Name && a.Qtype == b.Qtype && a.Client == b.Client &&
		slices.Equal(a.Served, b.Served) && slices.Equal(a.Fresh, b.Fresh) && a.Tier == b.Tier &&
		a.Key == b.Key && a.Scope == b.Scope && a.Source == b.Source
}

// TestAccuracyOff: sample 0 asks nothing more than the cache needs, and every series still exists.
func TestAccuracyOff(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t, AccuracyConfig{}, 0)
	for _, c := range []string{"20.1.2.3", "20.1.5.9", "20.1.2.4"} {
		e.resolve(t, "sub.acc.test", c)
	}
	if got := e.w.ecsSent("sub.acc.test"); len(got) != 1 {
		t.Errorf("ECS sent %v, want the one miss", got)
	}
	rep := e.r.Accuracy()
	for tier, byResult := range rep.Counts {
		for res, n := range byResult {
			if n != 0 {
				t.Errorf("%s %s = %d with checks off", tier, res, n)
			}
		}
	}
	if rep.Sample != 0 || len(rep.Counts) != 3 || len(rep.Skipped) != 4 {
		t.Errorf("report %+v", rep)
	}
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	if series["httpdns_accuracy_checks_total"] != 9 || series["httpdns_accuracy_checks_skipped_total"] != 4 {
		t.Errorf("series %v, want 3 tiers x 3 results and 4 reasons created up front", series)
	}
}

// TestAccuracyBounds: the upstream budget, the rate cap and the checks' own bound each skip a check
// and count it.
func TestAccuracyBounds(t *testing.T) {
	t.Parallel()
	t.Run("budget", func(t *testing.T) {
		t.Parallel()
		// 2 queries a second: the miss leaves 1 token, under the checks' reserve of half.
		e := newAccEnv(t, AccuracyConfig{Sample: 1}, 2)
		e.resolve(t, "sub.acc.test", "20.1.2.3")
		if got := e.w.ecsSent("sub.acc.test"); len(got) != 1 {
			t.Errorf("ECS sent %v, want the miss only", got)
		}
		if n := e.r.Accuracy().Skipped[SkipBudget]; n != 1 {
			t.Errorf("budget skips %d, want 1", n)
		}
		e.clock.Advance(time.Second) // full again: 2 tokens, the check leaves 1, its reserve
		e.resolve(t, "sub.acc.test", "20.1.2.3")
		if c := e.counts("subnet"); c[CheckMatch] != 1 {
			t.Errorf("with the budget refilled: %v", c)
		}
	})
	t.Run("rate", func(t *testing.T) {
		t.Parallel()
		e := newAccEnv(t, AccuracyConfig{Sample: 1, MaxPerSecond: 1}, 0)
		for range 3 {
			e.resolve(t, "sub.acc.test", "20.1.2.3")
		}
		rep := e.r.Accuracy()
		if rep.Counts["subnet"][CheckMatch] != 1 || rep.Skipped[SkipRate] != 2 {
			t.Errorf("one a second: %v, skipped %v", rep.Counts["subnet"], rep.Skipped)
		}
		e.clock.Advance(time.Second)
		e.resolve(t, "sub.acc.test", "20.1.2.3")
		if n := e.counts("subnet")[CheckMatch]; n != 2 {
			t.Errorf("a second later: %d matches, want 2", n)
		}
	})
	t.Run("busy", func(t *testing.T) {
		t.Parallel()
		e := newAccEnv(t, AccuracyConfig{Sample: 1, MaxPerSecond: 1000}, 0)
		e.resolve(t, "city.acc.test", "20.1.2.3")
		release := make(chan struct{})
		e.w.mu.Lock()
		e.w.block = release // every query with ECS (the checks') waits
		e.w.mu.Unlock()
		for i := range DefaultAccuracyInflight + 3 {
			if _, err := e.r.Resolve(context.Background(), Query{Name: "city.acc.test", Qtype: TypeA,
				Client: netip.AddrFrom4([4]byte{20, 1, 2, byte(i + 10)})}); err != nil {
				t.Fatal(err)
			}
		}
		if n := e.r.Accuracy().Skipped[SkipBusy]; n != 3 {
			t.Errorf("busy skips %d, want 3 past the %d checks in flight", n, DefaultAccuracyInflight)
		}
		close(release)
		e.r.wg.Wait()
		if n := e.counts("cityisp")[CheckMatch]; n != 1+DefaultAccuracyInflight {
			t.Errorf("%d matches, want %d", n, 1+DefaultAccuracyInflight)
		}
	})
}

// TestAccuracySample: 1 in N answers is checked, drawn at random.
func TestAccuracySample(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t, AccuracyConfig{Sample: 10, MaxPerSecond: 1e6}, 0)
	for i := range 2000 {
		if _, err := e.r.Resolve(context.Background(), Query{Name: "city.acc.test", Qtype: TypeA,
			Client: netip.AddrFrom4([4]byte{20, 1, byte(i >> 8), byte(i)})}); err != nil {
			t.Fatal(err)
		}
	}
	e.r.wg.Wait()
	rep := e.r.Accuracy()
	n := rep.Skipped[SkipBusy]
	for _, c := range rep.Counts["cityisp"] {
		n += c
	}
	// Binomial(2000, 0.1): mean 200, standard deviation 13.4; the bounds are 7 of them away.
	if n < 106 || n > 294 {
		t.Errorf("%d of 2000 answers sampled at 1 in 10", n)
	}
}

func TestAccuracyLogRing(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t, AccuracyConfig{Sample: 1, LogSize: 2}, 0)
	e.w.set("20.1.5.0/24", "203.0.113.7")
	e.resolve(t, "city.acc.test", "20.1.2.3")
	for _, c := range []string{"20.1.5.1", "20.1.5.2", "20.1.5.3"} {
		e.resolve(t, "city.acc.test", c)
		e.clock.Advance(time.Second)
	}
	rep := e.r.Accuracy()
	if rep.Counts["cityisp"][CheckMismatch] != 3 || len(rep.Mismatches) != 2 {
		t.Fatalf("counts %v, log %d", rep.Counts["cityisp"], len(rep.Mismatches))
	}
	if first, second := rep.Mismatches[0].Time, rep.Mismatches[1].Time; !first.After(second) || second.Sub(first) != -time.Second {
		t.Errorf("log times %v, %v: want the newest two, newest first", first, second)
	}
}

func TestJudge(t *testing.T) {
	t.Parallel()
	addrs := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	for _, tt := range []struct {
		name   string
		rcode  int
		served []netip.Addr
		fresh  FreshAnswer
		err    error
		want   string
	}{
		{"same addresses", 0, addrs("1.2.3.4"), FreshAnswer{IPs: addrs("1.2.3.4")}, nil, CheckMatch},
		{"one edge, rotated", 0, addrs("1.2.3.4", "1.2.3.5"), FreshAnswer{IPs: addrs("1.2.3.9")}, nil, CheckMatch},
		{"one edge in common", 0, addrs("1.2.3.4", "5.6.7.8"), FreshAnswer{IPs: addrs("9.9.9.9", "5.6.7.1")}, nil, CheckMatch},
		{"another edge", 0, addrs("1.2.3.4"), FreshAnswer{IPs: addrs("1.2.4.4")}, nil, CheckMismatch},
		{"IPv6 one /64", 0, addrs("2001:db8:1:2::1"), FreshAnswer{IPs: addrs("2001:db8:1:2::99")}, nil, CheckMatch},
		{"IPv6 another /64", 0, addrs("2001:db8:1:2::1"), FreshAnswer{IPs: addrs("2001:db8:1:3::1")}, nil, CheckMismatch},
		{"same NXDOMAIN", 3, nil, FreshAnswer{Rcode: 3}, nil, CheckMatch},
		{"same NODATA", 0, nil, FreshAnswer{}, nil, CheckMatch},
		{"NXDOMAIN then NODATA", 3, nil, FreshAnswer{}, nil, CheckUnknown},
		{"addresses then NODATA", 0, addrs("1.2.3.4"), FreshAnswer{}, nil, CheckUnknown},
		{"NODATA then addresses", 0, nil, FreshAnswer{IPs: addrs("1.2.3.4")}, nil, CheckUnknown},
		{"SERVFAIL", 0, addrs("1.2.3.4"), FreshAnswer{Rcode: 2}, nil, CheckUnknown},
		{"failed", 0, addrs("1.2.3.4"), FreshAnswer{}, errors.New("timeout"), CheckUnknown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := judge(tt.rcode, tt.served, tt.fresh, tt.err); got != tt.want {
				t.Errorf("judge = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestBudgetCheckLowest: a check goes only while more is left than prefetch needs.
func TestBudgetCheckLowest(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Unix(0, 0)}
	b := newBudget(100, clk.Now)
	for range 55 {
		b.allow(KindMiss) // 45 tokens left
	}
	if !b.allow(KindPrefetch) {
		t.Error("prefetch refused with 45 tokens above a reserve of 30")
	}
	if b.allow(KindCheck) {
		t.Error("a check allowed with 44 tokens, inside its reserve of 50")
	}
}

func TestAccuracyConfigInvalid(t *testing.T) {
	t.Parallel()
	err := (&AccuracyConfig{Sample: -1, MaxPerSecond: -2, LogSize: -3, MaxInflight: -4}).validate()
	for _, want := range []string{"sample -1", "max per second -2", "log size -3", "max in flight -4"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %q", err, want)
		}
	}
}

// counterValue reads one counter of reg by its label pairs; the test fails when there is none.
func counterValue(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	v, ok := findCounter(t, reg, name, labels...)
	if !ok {
		t.Fatalf("no %s%v", name, labels)
	}
	return v
}

// findCounter reads one counter of reg by its label pairs, if reg has it.
func findCounter(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, labels) {
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
