package resolver

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/miekg/dns"
)

// Accuracy checks (docs/design.md §7.6): a shadow sample of answered requests is asked upstream
// again, in the background, with the exact client's /24 (IPv6 /56) as ECS, bypassing the cache, and
// the fresh answer is compared with the one served. The share of mismatches estimates how often the
// cache hands a client another client's edge: the misroute rate the Cache 2.0 authors track from
// their logs, measured here in production. Nothing a check learns is stored, tracked or refreshed;
// a mismatch on a subnet-tier key is a split signal for the prober.

// Defaults of AccuracyConfig.
const (
	// DefaultAccuracyPerSecond is the default cap on checks started a second.
	DefaultAccuracyPerSecond = 20
	// DefaultAccuracyLog is how many mismatches the log keeps by default.
	DefaultAccuracyLog = 256
	// DefaultAccuracyInflight bounds the checks waiting for upstream at once by default: with slow
	// upstreams the rate cap alone would let a few seconds' worth pile up.
	DefaultAccuracyInflight = 16
)

// AccuracyConfig configures the accuracy checks; the zero value disables them.
type AccuracyConfig struct {
	// Sample is 1 in how many answered requests is checked. 0 (the default): no checks. The
	// service's config defaults to 1000.
	Sample int
	// MaxPerSecond caps the checks started a second (by the resolver's clock); a sampled request
	// over it is skipped and counted. Default 20.
	MaxPerSecond float64
	// LogSize is how many of the latest mismatches Accuracy reports. Default 256.
	LogSize int
	// MaxInflight bounds the checks waiting for upstream at once; a sampled request past it is
	// skipped (busy). Default 16. The evaluation, which runs far faster than real time, lifts it.
	MaxInflight int
}

func (c *AccuracyConfig) validate() error {
	var errs []error
	if c.Sample < 0 {
		errs = append(errs, fmt.Errorf("accuracy sample %d: must not be negative", c.Sample))
	}
	if c.MaxPerSecond < 0 || math.IsNaN(c.MaxPerSecond) || math.IsInf(c.MaxPerSecond, 0) {
		errs = append(errs, fmt.Errorf("accuracy max per second %v: must be a finite number >= 0", c.MaxPerSecond))
	}
	if c.LogSize < 0 {
		errs = append(errs, fmt.Errorf("accuracy log size %d: must not be negative", c.LogSize))
	}
	if c.MaxInflight < 0 {
		errs = append(errs, fmt.Errorf("accuracy max in flight %d: must not be negative", c.MaxInflight))
	}
	return errors.Join(errs...)
}

// Check results, the result label of httpdns_accuracy_checks_total.
const (
	// CheckMatch: the fresh answer shares an edge network (/24, IPv6 /64) with the served one, or
	// both are the same negative answer.
	CheckMatch = "match"
	// CheckMismatch: both have addresses, in disjoint edge networks.
	CheckMismatch = "mismatch"
	// CheckUnknown: nothing to judge by: the fresh query failed, the served answer was stale, the
	// two are negative answers of different kinds, only one of them has addresses, or the CDN
	// answered for a part of the client's /24 (/56) the client is not in.
	CheckUnknown = "unknown"
)

// Reasons a sampled request was not checked, the reason label of
// httpdns_accuracy_checks_skipped_total.
const (
	SkipRate   = "rate"   // over AccuracyConfig.MaxPerSecond
	SkipBudget = "budget" // the upstream budget (UpstreamQPS) had too little left for the lowest priority
	SkipBusy   = "busy"   // the upstream pool nearly at UpstreamMaxInflight, or MaxInflight checks waiting
	SkipNoECS  = "no_ecs" // the client must never be sent as ECS (docs/design.md §6.1): nothing to ask with
)

var (
	checkResults = [...]string{CheckMatch, CheckMismatch, CheckUnknown}
	skipReasons  = [...]string{SkipRate, SkipBudget, SkipBusy, SkipNoECS}
	checkTiers   = [...]cache.Tier{cache.TierSubnet, cache.TierCityISP, cache.TierGlobal}
)

// Mismatch is one check whose fresh answer disagreed with the answer served.
type Mismatch struct {
	Time  time.Time
	Name  string
	Qtype uint16
	// Client is the client's /24 (IPv6 /56): the ECS source the check sent. The client's own
	// address is not kept.
	Client netip.Prefix
	// Served are the addresses the client got; Fresh those upstream gives its /24 now.
	Served, Fresh []netip.Addr
	// Tier and Key are the cache key the answer was served from: its tier and its scope (a block
	// or part prefix, "country/city/ISP", or "" name-wide).
	Tier string
	Key  string
	// Scope is the fresh reply's ECS scope prefix length; -1 when it carried no ECS.
	Scope int
	// Source is how the answer was served: "hit", "miss" or "l2".
	Source string
}

// AccuracyReport is what the checks have found since the start.
type AccuracyReport struct {
	// Sample and MaxPerSecond are the configuration; Sample 0: checks are off.
	Sample       int
	MaxPerSecond float64
	// Counts are the checks by tier ("subnet", "cityisp", "global") and result (CheckMatch, ...).
	Counts map[string]map[string]uint64
	// Skipped are the sampled requests not checked, by reason (SkipRate, ...).
	Skipped map[string]uint64
	// Mismatches are the latest mismatches, newest first.
	Mismatches []Mismatch
}

// accuracy is the resolver's checker: the sample, its bounds, its counts and its mismatch log.
type accuracy struct {
	cfg    AccuracyConfig
	sample uint64
	limit  *rateCap
	slots  chan struct{} // checks waiting for upstream
	counts [len(checkTiers)][len(checkResults)]atomic.Uint64
	skips  [len(skipReasons)]atomic.Uint64
	m      *accuracyMetrics

	mu   sync.Mutex
	log  []Mismatch // a ring: next is the slot the next mismatch takes
	next int
}

// newAccuracy builds the checker of cfg (defaults filled, validated), or nil when checks are off.
func newAccuracy(cfg AccuracyConfig, m *accuracyMetrics, now func() time.Time) *accuracy {
	if cfg.Sample == 0 {
		return nil
	}
	if cfg.MaxPerSecond == 0 {
		cfg.MaxPerSecond = DefaultAccuracyPerSecond
	}
	if cfg.LogSize == 0 {
		cfg.LogSize = DefaultAccuracyLog
	}
	if cfg.MaxInflight == 0 {
		cfg.MaxInflight = DefaultAccuracyInflight
	}
	return &accuracy{cfg: cfg, sample: uint64(cfg.Sample), limit: newRateCap(cfg.MaxPerSecond, now),
		slots: make(chan struct{}, cfg.MaxInflight), m: m, log: make([]Mismatch, 0, cfg.LogSize)}
}

// sampleCheck is the hot path's whole cost of the checks: one random draw per answer (math/rand/v2's
// per-thread generator: no lock, no shared counter, no allocation). Only a sampled request copies
// what its check needs.
func (r *Resolver) sampleCheck(req *request, key cache.Key, e *cache.Entry, source string) {
	if r.acc == nil || rand.Uint64N(r.acc.sample) != 0 {
		return
	}
	r.startCheck(req, key, e, source)
}

// startCheck runs the bounds, lowest priority first to last, and starts the check in the background.
func (r *Resolver) startCheck(req *request, key cache.Key, e *cache.Entry, source string) {
	a := r.acc
	if source == "stale" {
		// Served past its TTL (the refresh grace, or every upstream failing): comparing it would
		// count the cache's age, not its keys.
		a.count(key.Tier, CheckUnknown)
		return
	}
	src := ecsSource(req.client)
	switch {
	case !src.IsValid():
		a.skip(SkipNoECS)
		return
	case !a.limit.allow():
		a.skip(SkipRate)
		return
	}
	if running, limit := r.pool.Inflight(); running*4 >= limit*3 {
		a.skip(SkipBusy)
		return
	}
	select {
	case a.slots <- struct{}{}:
	default:
		a.skip(SkipBusy)
		return
	}
	if !r.budget.allow(KindCheck) {
		<-a.slots
		a.skip(SkipBudget)
		return
	}
	if !r.begin() {
		<-a.slots
		return
	}
	c := pendingCheck{req: *req, key: key, ips: e.IPs, rcode: e.Rcode, source: source, at: r.cfg.Now()}
	// The check asks with the client's own /24 even for a name served name-wide (global tier or
	// auto-global): whether that name really is the same for this client is what it checks.
	c.req.src = src
	go func() {
		defer r.wg.Done()
		defer func() { <-a.slots }()
		r.runCheck(&c)
	}()
}

// pendingCheck is what a check copies of its request: the request and the answer served.
type pendingCheck struct {
	req    request
	key    cache.Key
	ips    []netip.Addr // the cache's slice, read-only
	rcode  int
	source string
	at     time.Time
}

// runCheck asks upstream and judges.
func (r *Resolver) runCheck(c *pendingCheck) {
	fresh, err := r.askFresh(r.ctx, &c.req, c.key, KindCheck)
	if err != nil && r.ctx.Err() != nil {
		return // closing: not the upstream's failure
	}
	if err != nil {
		r.cfg.Logger.Debug("accuracy check failed", "name", c.req.name, "err", err)
	}
	res := judge(c.rcode, c.ips, fresh, err)
	if err == nil && !answersClient(c.req.src, fresh.Scope, c.req.client) {
		res = CheckUnknown
	}
	r.acc.count(c.key.Tier, res)
	if res != CheckMismatch {
		return
	}
	r.acc.record(Mismatch{Time: c.at, Name: c.req.name, Qtype: c.req.qtype, Client: c.req.src,
		Served: c.ips, Fresh: fresh.IPs, Tier: c.key.Tier.String(), Key: c.key.Scope, Scope: fresh.Scope, Source: c.source})
	if c.key.Tier == cache.TierSubnet && r.cfg.Splits != nil {
		// The block's answer is not this /24's: the prober's evidence that the block is split.
		scope := c.req.src
		if fresh.Scope >= 0 {
			scope, _ = c.req.client.Prefix(fresh.Scope)
		}
		r.cfg.Splits.RecordSplit(SplitSignal{Name: c.req.name, Qtype: c.req.qtype, Block: c.req.loc.Network,
			Source: c.req.src, Scope: scope, Answer: fresh.IPs, Time: c.at, Check: true})
	}
}

// judge compares the answer served (rcode, addresses) with the fresh one (or its error). Addresses
// are compared by edge network, the /24 (IPv6 /64) holding them, not one by one: a CDN hands out a
// few of an edge's many addresses and rotates them, so two answers of one edge often share no
// address, while two edges are never one /24 (the smallest prefix routed across the Internet; an
// IPv6 edge's addresses sit in its LAN's /64). Answers of one edge match; answers with no edge
// network in common are a mismatch.
func judge(rcode int, served []netip.Addr, fresh FreshAnswer, err error) string {
	switch {
	case err != nil || (fresh.Rcode != dns.RcodeSuccess && fresh.Rcode != dns.RcodeNameError):
		return CheckUnknown
	case len(served) == 0 && len(fresh.IPs) == 0:
		if rcode == fresh.Rcode {
			return CheckMatch // the same NXDOMAIN or NODATA
		}
		return CheckUnknown
	case len(served) == 0 || len(fresh.IPs) == 0:
		return CheckUnknown
	}
	for _, s := range served {
		for _, f := range fresh.IPs {
			if edgeNet(s) == edgeNet(f) {
				return CheckMatch
			}
		}
	}
	return CheckMismatch
}

// answersClient reports whether a reply with ECS scope scope to a query with source src holds for
// client. A scope finer than the source says the CDN splits the /24 (/56): its answer is then the
// one for the part holding the source's first address, the one it looked up (RFC 7871 §7.2.1), and
// says nothing about a client in another part, which a check may not ask for (the source is never
// finer than /24 or /56, docs/design.md §6.1).
func answersClient(src netip.Prefix, scope int, client netip.Addr) bool {
	if scope <= src.Bits() {
		return true
	}
	part, err := src.Addr().Prefix(scope)
	return err == nil && part.Contains(client)
}

// edgeNet is the network of an edge address: its /24, IPv6 /64.
func edgeNet(a netip.Addr) netip.Prefix {
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p
}

func (a *accuracy) count(t cache.Tier, result string) {
	ti, ri := tierIndex(t), resultIndex(result)
	if ti < 0 {
		return
	}
	a.counts[ti][ri].Add(1)
	if a.m != nil {
		a.m.checks[ti][ri].Inc()
	}
}

func (a *accuracy) skip(reason string) {
	for i, s := range skipReasons {
		if s == reason {
			a.skips[i].Add(1)
			if a.m != nil {
				a.m.skipped[i].Inc()
			}
		}
	}
}

func (a *accuracy) record(m Mismatch) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.log) < a.cfg.LogSize {
		a.log = append(a.log, m)
	} else {
		a.log[a.next] = m
	}
	a.next = (a.next + 1) % a.cfg.LogSize
}

// Accuracy reports the checks' counts and the latest mismatches. With checks off it reports the
// zero counts and Sample 0.
func (r *Resolver) Accuracy() AccuracyReport {
	a := r.acc
	if a == nil {
		a = &accuracy{} // checks off: every count zero
	}
	rep := AccuracyReport{Sample: a.cfg.Sample, MaxPerSecond: a.cfg.MaxPerSecond,
		Counts: map[string]map[string]uint64{}, Skipped: map[string]uint64{}}
	for ti, t := range checkTiers {
		rep.Counts[t.String()] = map[string]uint64{}
		for ri, res := range checkResults {
			rep.Counts[t.String()][res] = a.counts[ti][ri].Load()
		}
	}
	for i, s := range skipReasons {
		rep.Skipped[s] = a.skips[i].Load()
	}
	if r.acc == nil {
		return rep
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	rep.Mismatches = make([]Mismatch, 0, len(a.log))
	for i := range len(a.log) {
		rep.Mismatches = append(rep.Mismatches, a.log[(a.next-1-i+2*len(a.log))%len(a.log)])
	}
	return rep
}

func tierIndex(t cache.Tier) int {
	for i, c := range checkTiers {
		if c == t {
			return i
		}
	}
	return -1
}

func resultIndex(r string) int {
	for i, c := range checkResults {
		if c == r {
			return i
		}
	}
	return len(checkResults) - 1
}

// rateCap is a token bucket of rate a second, burst one second's worth (at least 1), refilled by the
// injected clock. Only sampled requests reach it, so its lock is off the hot path.
type rateCap struct{ bucket }

func newRateCap(rate float64, now func() time.Time) *rateCap {
	return &rateCap{newBucket(rate, max(rate, 1), now)}
}

func (c *rateCap) allow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refill()
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}
