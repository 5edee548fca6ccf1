// Package eval compares cache designs on the simulated CDN world: the same workload of weighted
// clients and Zipf-popular names runs through the real resolver, cache and CIDRDB code against
// the world's in-process DNS servers, and every answer is judged against the world's ground truth
// for the exact client address. `go run ./internal/eval` prints the table the README shows.
package eval

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/httpdns/httpdns/prober"
	"github.com/httpdns/httpdns/resolver"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Workload is the request stream: which clients ask for which names, and how fast.
type Workload struct {
	// Requests is how many requests are made. Default 500000.
	Requests int
	// Span is the simulated time the requests are spread over, evenly. Default 30m: with the
	// defaults about 0.07 requests a second per /24, a few asks a TTL for the popular names.
	Span time.Duration
	// HotSubnets is how many /24s are hot (busy office and campus networks). Default 16.
	HotSubnets int
	// HotShare is the share of requests from the hot /24s. Default 0.1.
	HotShare float64
	// SubnetSigma is the spread of the other requests over all /24s: each /24's share is
	// log-normal with this sigma (its client population, as in a carrier's address pools).
	// Default 1; negative: SubnetZipf instead.
	SubnetSigma float64
	// SubnetZipf, when SubnetSigma is negative, spreads the other requests over the /24s by a Zipf
	// law with this exponent (> 1) instead, a few /24s taking most of them. Default 1.05.
	SubnetZipf float64
	// DomainZipf is the Zipf exponent (> 1) of names' popularity. Default 1.2.
	DomainZipf float64
	// IPv6Share is the share of all requests made by IPv6 clients, 0..0.9: they come on top of
	// Requests (which are IPv4), from the world's client /56s (Subnets6) spread log-normally like
	// the /24s, and ask A or AAAA alike. Default 0.1; negative means none.
	IPv6Share float64
	// Seed makes the stream; the same Workload always makes the same requests. Default 1.
	Seed uint64
}

func (w Workload) withDefaults() Workload {
	if w.Requests == 0 {
		w.Requests = 500_000
	}
	if w.Span == 0 {
		w.Span = 30 * time.Minute
	}
	if w.HotSubnets == 0 {
		w.HotSubnets = 16
	}
	if w.HotShare == 0 {
		w.HotShare = 0.1
	}
	if w.SubnetSigma == 0 {
		w.SubnetSigma = 1
	}
	if w.SubnetZipf == 0 {
		w.SubnetZipf = 1.05
	}
	if w.DomainZipf == 0 {
		w.DomainZipf = 1.2
	}
	if w.Seed == 0 {
		w.Seed = 1
	}
	if w.IPv6Share == 0 {
		w.IPv6Share = 0.1
	}
	return w
}

// request is one client question of the stream.
type request struct {
	at     time.Duration // since the start
	client netip.Addr
	name   string
	qtype  uint16
}

// requests makes the stream for the world's /24s and names.
func (w Workload) requests(world *cdnsim.World, names []string) []request {
	w = w.withDefaults()
	rng := rand.New(rand.NewPCG(w.Seed, 0x5eed))
	subnets := slices.Clone(world.Subnets())
	rng.Shuffle(len(subnets), func(i, j int) { subnets[i], subnets[j] = subnets[j], subnets[i] })
	names = slices.Clone(names)
	rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	tail := subnetPicker(rng, w, len(subnets))
	pop := rand.NewZipf(rng, w.DomainZipf, 1, uint64(len(names)-1))
	hot := min(w.HotSubnets, len(subnets))
	out := make([]request, w.Requests)
	for i := range out {
		s := subnets[tail()]
		if rng.Float64() < w.HotShare {
			s = subnets[rng.IntN(hot)]
		}
		out[i] = request{
			at:     time.Duration(int64(w.Span) * int64(i) / int64(w.Requests)),
			client: world.ClientIn(s, 1+rng.IntN(254)),
			name:   names[pop.Uint64()],
			qtype:  dns.TypeA,
		}
	}
	return mergeByTime(out, w.requests6(world, names))
}

// requests6 makes the IPv6 part of the stream, from its own random stream so that the IPv4
// requests are the same with and without it: IPv6Share of all requests, from the world's client
// /56s spread log-normally, asking A or AAAA alike.
func (w Workload) requests6(world *cdnsim.World, names []string) []request {
	subnets := world.Subnets6()
	if w.IPv6Share <= 0 || len(subnets) == 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(w.Seed, 0x5eed6))
	n := int(float64(w.Requests) * w.IPv6Share / (1 - w.IPv6Share))
	pick := subnetPicker(rng, Workload{SubnetSigma: max(w.SubnetSigma, 1)}, len(subnets))
	pop := rand.NewZipf(rng, w.DomainZipf, 1, uint64(len(names)-1))
	out := make([]request, n)
	for i := range out {
		q := dns.TypeA
		if rng.IntN(2) == 0 {
			q = dns.TypeAAAA
		}
		out[i] = request{
			at:     time.Duration(int64(w.Span) * int64(i) / int64(n)),
			client: world.ClientIn(subnets[pick()], rng.IntN(1<<16)),
			name:   names[pop.Uint64()],
			qtype:  q,
		}
	}
	return out
}

// mergeByTime merges two streams sorted by time, a first on a tie.
func mergeByTime(a, b []request) []request {
	out := make([]request, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if b[0].at < a[0].at {
			out, b = append(out, b[0]), b[1:]
		} else {
			out, a = append(out, a[0]), a[1:]
		}
	}
	return append(append(out, a...), b...)
}

// Demand returns the IPv6 /56s that asked during the workload a day before this one (the same
// workload with the next seed): what `serve` records in its demand log and `probe` reads.
func (w Workload) Demand(world *cdnsim.World, names []string) []netip.Prefix {
	w = w.withDefaults()
	w.Seed++
	seen := map[netip.Prefix]bool{}
	var out []netip.Prefix
	for _, q := range w.requests6(world, names) {
		p, _ := q.client.Prefix(56)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// subnetPicker returns a draw of the index of a /24 of the workload's tail.
func subnetPicker(rng *rand.Rand, w Workload, n int) func() int {
	if w.SubnetSigma <= 0 {
		z := rand.NewZipf(rng, w.SubnetZipf, 1, uint64(n-1))
		return func() int { return int(z.Uint64()) }
	}
	cum := make([]float64, n)
	total := 0.0
	for i := range cum {
		total += math.Exp(w.SubnetSigma * rng.NormFloat64())
		cum[i] = total
	}
	return func() int {
		i, _ := slices.BinarySearch(cum, rng.Float64()*total)
		return min(i, n-1)
	}
}

// Env is the simulated world with its DNS servers running and its geo databases written.
type Env struct {
	World   *cdnsim.World
	Servers []*cdnsim.Server
	Dir     string
	City    string
	ISP     string
}

// NewEnv starts nodes DNS servers for world on loopback and writes its geo databases into dir.
func NewEnv(world *cdnsim.World, nodes int, dir string) (*Env, error) {
	e := &Env{World: world, Dir: dir}
	var err error
	if e.City, e.ISP, err = world.WriteGeoDBs(dir); err != nil {
		return nil, err
	}
	for range nodes {
		s, err := cdnsim.Serve(world, "127.0.0.1:0")
		if err != nil {
			e.Close()
			return nil, err
		}
		e.Servers = append(e.Servers, s)
	}
	return e, nil
}

// Close stops the DNS servers.
func (e *Env) Close() {
	for _, s := range e.Servers {
		s.Close()
	}
}

func (e *Env) upstreams() []string {
	var out []string
	for _, s := range e.Servers {
		out = append(out, s.Addr())
	}
	return out
}

// queries counts what the servers received, health checks (questions for ".") left out.
func (e *Env) queries() int64 {
	var n int64
	for _, s := range e.Servers {
		n += s.Queries() - s.QueriesFor(".")
	}
	return n
}

// Names are the world's names a workload asks for: every CDN name, the CNAME and the global names.
func (e *Env) Names() []string {
	var out []string
	for _, d := range e.World.Domains() {
		out = append(out, d.Name)
	}
	return out
}

// CDNNames are the world's CDN names, the prober's probe domains.
func (e *Env) CDNNames() []string {
	var out []string
	for _, d := range e.World.Domains() {
		if d.Kind == cdnsim.KindHonest || d.Kind == cdnsim.KindEcho {
			out = append(out, d.Name)
		}
	}
	return out
}

// LearnOptions shape a Learn.
type LearnOptions struct {
	// Demand are the IPv6 /56s clients asked from (the server's demand log), probed besides the
	// sample of every IPv6 allocation.
	Demand []netip.Prefix
	// MaxQueries is the probe's query budget; 0 for none.
	MaxQueries int
}

// Learn probes the world from the geo databases' /24s (and IPv6 networks) and writes the learnt
// CIDRDB into the environment's directory.
func (e *Env) Learn(ctx context.Context, opts LearnOptions) (string, prober.Report, error) {
	geo, err := cidrdb.Open(cidrdb.Config{CityPath: e.City, ISPPath: e.ISP})
	if err != nil {
		return "", prober.Report{}, err
	}
	defer geo.Close()
	start, err := cidrdb.BuildFromGeo(e.City, e.ISP, cidrdb.BuildOptions{})
	if err != nil {
		return "", prober.Report{}, err
	}
	out := filepath.Join(e.Dir, "learnt.mmdb")
	os.Remove(filepath.Join(e.Dir, "observations.jsonl"))
	rep, err := prober.Run(ctx, prober.RunConfig{
		Probe: prober.ProbeConfig{Upstreams: e.upstreams(), Domains: e.CDNNames(), Rate: -1, Concurrency: 32,
			MaxQueries: opts.MaxQueries},
		Start:   start,
		Demand:  opts.Demand,
		OutPath: out, Locator: geo,
	})
	return out, rep, err
}

// Cache is one cache design under test.
type Cache struct {
	// Name labels the row.
	Name string
	// DefaultTier is the tier of every name the whitelist doesn't list.
	DefaultTier cache.Tier
	// Whitelist is the whitelist text, "" for none.
	Whitelist string
	// CIDRDB is the path of a CIDRDB, "" for /24 blocks.
	CIDRDB string
	// Prefetch is how many sibling blocks are refreshed with a fetched answer; 0 for none.
	Prefetch int
	// ActiveMinAsks is the resolver's ActiveMinAsks; 0 for its default.
	ActiveMinAsks int
	// Checks turns the accuracy checks on: 1 in Checks answers is asked again with the client's own
	// /24 (/56) and judged (accuracy.go); 0 for none. Their upstream queries count in UpstreamPer1k.
	Checks int
}

// Family is one address family's share of a Result.
type Family struct {
	Requests        int
	Misroutes       int
	MisroutesPer10k float64
	HitRatio        float64
	// Keys is how many distinct cache keys (tier, name, qtype, scope) answered the family's
	// requests: its share of the cache's entries (a city+ISP key both families use counts in both).
	Keys int
}

// Result is one row of the comparison.
type Result struct {
	Name string
	// V4 and V6 are the IPv4 and IPv6 clients' requests.
	V4, V6          Family
	Requests        int
	Misroutes       int     // answers that differ from the truth for the exact client address
	MisroutesPer10k float64 //
	HitRatio        float64 // share of requests answered from the cache (fresh or within the refresh grace)
	UpstreamPer1k   float64 // upstream queries per 1000 requests, background refreshes included
	Entries         int64   // cache entries at the end, all tiers
	// Refreshes counts the background refreshes sent upstream by kind (passive, active, prefetch).
	Refreshes map[string]int
	// Unused counts the background refreshes no client asked for before the key's next fetch or
	// before it went cold, by kind.
	Unused map[string]int
	// Tiers are the requests, the true misroutes and the accuracy checks by the answering key's tier
	// ("subnet", "cityisp", "global").
	Tiers map[string]*TierResult
	// ChecksSkipped counts the sampled answers the resolver did not check, by reason.
	ChecksSkipped map[string]uint64
}

// clock is the simulated time the cache and the resolver see.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// Run sends the workload through a fresh resolver built as c says and judges every answer.
func Run(ctx context.Context, e *Env, c Cache, w Workload) (Result, error) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	start := clk.Now()
	db, wl, err := openShared(e, c)
	if err != nil {
		return Result{}, err
	}
	defer db.Close()
	one, err := newNode(e, c, db, wl, clk, nil)
	if err != nil {
		return Result{}, err
	}
	defer one.ch.Close()
	r, ch, reg := one.r, one.ch, one.reg
	before := e.queries()
	res := Result{Name: c.Name, Tiers: map[string]*TierResult{}}
	hits := 0
	var fam [2]struct {
		hits int
		keys map[string]bool
	}
	fam[0].keys, fam[1].keys = map[string]bool{}, map[string]bool{}
	nextSweep := time.Duration(0)
	active := strings.Contains(c.Whitelist, "active") // only active rules need the sweep
	for _, q := range w.requests(e.World, e.Names()) {
		clk.set(start.Add(q.at))
		if active && q.at >= nextSweep { // active refresh checks once a simulated second
			r.Sweep()
			nextSweep = q.at + time.Second
		}
		a, err := r.Resolve(ctx, resolver.Query{Name: q.name, Qtype: q.qtype, Client: q.client})
		if err != nil {
			r.Close()
			return res, fmt.Errorf("resolving %s for %v: %w", q.name, q.client, err)
		}
		f, six := &res.V4, 0
		if q.client.Is6() {
			f, six = &res.V6, 1
		}
		f.Requests++
		fam[six].keys[a.Tier+" "+a.Name+" "+fmt.Sprint(a.Qtype)+" "+a.Scope] = true
		if a.Source != "miss" {
			hits++
			fam[six].hits++
		}
		right := rightAnswer(a.IPs, e.World.Truth(q.name, q.qtype, q.client))
		if !right {
			res.Misroutes++
			f.Misroutes++
		}
		res.tier(a.Tier).count(right, a.Source == "stale")
		res.Requests++
	}
	for i, f := range []*Family{&res.V4, &res.V6} {
		f.Keys = len(fam[i].keys)
		if f.Requests > 0 {
			f.MisroutesPer10k = float64(f.Misroutes) * 10000 / float64(f.Requests)
			f.HitRatio = float64(fam[i].hits) / float64(f.Requests)
		}
	}
	r.Close() // the few accuracy checks still asking upstream are cancelled, not counted
	res.addChecks(r.Accuracy())
	ch.Wait()
	for _, t := range []cache.Tier{cache.TierSubnet, cache.TierCityISP, cache.TierGlobal} {
		res.Entries += ch.Len(t)
	}
	if res.Refreshes, res.Unused, err = refreshCounts(reg); err != nil {
		return res, err
	}
	n := float64(res.Requests)
	res.MisroutesPer10k = float64(res.Misroutes) * 10000 / n
	res.HitRatio = float64(hits) / n
	res.UpstreamPer1k = float64(e.queries()-before) * 1000 / n
	return res, nil
}

// maxAddrs is how many addresses of a family the resolver keeps from an upstream reply.
const maxAddrs = 32

// rightAnswer reports whether got is what the CDN gives the client: every address one of truth's,
// and as many as truth has, up to the maxAddrs the resolver keeps of a reply (pool.portal.test
// has 40).
func rightAnswer(got, truth []netip.Addr) bool {
	if len(got) != min(len(truth), maxAddrs) {
		return false
	}
	for _, a := range got {
		if _, ok := slices.BinarySearchFunc(truth, a, netip.Addr.Compare); !ok {
			return false
		}
	}
	return true
}

// refreshCounts reads the resolver's background refreshes sent upstream, and those no client used,
// by kind.
func refreshCounts(g prometheus.Gatherer) (sent, unused map[string]int, err error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, nil, err
	}
	sent, unused = map[string]int{}, map[string]int{}
	for _, mf := range mfs {
		var out map[string]int
		switch mf.GetName() {
		case "httpdns_resolver_refreshes_total":
			out = sent
		case "httpdns_resolver_refreshes_unused_total":
			out = unused
		default:
			continue
		}
		for _, m := range mf.GetMetric() {
			var kind, result string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "kind":
					kind = l.GetValue()
				case "result":
					result = l.GetValue()
				}
			}
			if result == "" || result == "ok" || result == "error" {
				out[kind] += int(m.GetCounter().GetValue())
			}
		}
	}
	return sent, unused, nil
}

// Whitelist is the recommended whitelist for the world: its CDN names and their alias in the subnet
// tier with active refresh, its global names in the global tier.
func (e *Env) Whitelist() string {
	var b strings.Builder
	for _, d := range e.World.Domains() {
		switch d.Kind {
		case cdnsim.KindGlobal:
			b.WriteString(d.Name + " global\n")
		default:
			b.WriteString(d.Name + " subnet active\n")
		}
	}
	return b.String()
}
