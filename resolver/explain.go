package resolver

import (
	"context"
	"errors"
	"net/netip"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
	"github.com/miekg/dns"
)

// Explanation says what the resolver would do for one Query and why, for operators (the console's
// lookup): the rule the whitelist gives the name, where the client sits, the cache key the key policy
// (route.go) reads, the entry under it if any, and a fresh upstream answer asked with the client's
// own ECS beside it.
type Explanation struct {
	// Name is the canonical name asked; Qtype TypeA or TypeAAAA.
	Name  string
	Qtype uint16
	// Client is the address explained (IPv4-mapped and NAT64 addresses unwrapped).
	Client netip.Addr
	// Rule is the whitelist rule the name matched (Pattern "" for the default tier).
	Rule Rule
	// Location is where the CIDRDB and geo databases put the client; zero for the global tier
	// (it is never located) and for a client that must not be sent as ECS.
	Location cidrdb.Location
	// Source is the ECS source prefix sent upstream for this client: its /24 (IPv6 /56); invalid
	// for the global tier and for special-purpose addresses (docs/design.md §6.1).
	Source netip.Prefix
	// Key is the cache key the client reads first: its tier key, or the part key of a block the
	// CDN splits for this name (Split), or the name-wide key (NameWide) when that is what answers.
	Key cache.Key
	// Split is set when the tier key holds a split marker: the CDN answers parts of the block apart.
	Split bool
	// NameWide is set when the client is answered from the name-wide key: the name is auto-global,
	// or does not exist (NXDOMAIN) for anyone.
	NameWide bool
	// AutoGlobal reports whether the name is global for everyone on evidence (autoglobal.go).
	AutoGlobal bool
	// Cached is the entry under Key; Found false when there is none.
	Cached CachedEntry
	// Fresh is what upstream answers now for the client's ECS, asked bypassing the cache and not
	// stored; FreshErr is set instead when every node failed.
	Fresh    FreshAnswer
	FreshErr error
}

// CachedEntry is a cache entry as the console shows it.
type CachedEntry struct {
	Found bool
	// Result is how the cache classifies the entry now: hit (fresh), stale (expired within the
	// refresh grace) or miss (expired longer, kept for serve-stale only).
	Result cache.Result
	IPs    []netip.Addr
	Rcode  int
	// TTL is the entry's TTL; Remaining the whole seconds it stays fresh (0 once expired).
	TTL, Remaining uint32
	// Scope is the ECS scope the answer came back with, as a prefix of the asking client.
	Scope netip.Prefix
	// Parts are the parts of the block the answer is confirmed for; none: all of it.
	Parts []netip.Prefix
}

// FreshAnswer is one upstream reply, parsed as the resolver parses replies it stores.
type FreshAnswer struct {
	IPs   []netip.Addr
	Rcode int
	TTL   uint32 // the reply's TTL (smallest along the CNAME chain), before the configured clamps
	// Scope is the reply's ECS scope prefix length; -1 when the reply carried no ECS.
	Scope int
}

// Explain tells what Resolve would answer q with and why, without counting a request, tracking the
// key, refreshing or storing anything: the cache is only read, and the fresh answer is asked
// upstream (counted in the upstream pool's series like any query) and thrown away. The name and
// type are checked as Resolve checks them.
func (r *Resolver) Explain(ctx context.Context, q Query) (Explanation, error) {
	name, err := CanonicalName(q.Name)
	if err != nil {
		return Explanation{}, err
	}
	if q.Qtype != TypeA && q.Qtype != TypeAAAA {
		return Explanation{}, ErrInvalidType
	}
	req := r.classify(name, q.Qtype, q.Client)
	x := Explanation{Name: name, Qtype: q.Qtype, Client: req.client, Rule: req.rule,
		Location: req.loc, Source: req.src, AutoGlobal: r.autoGlobal.global(name, q.Qtype)}
	x.Key, x.Split, x.NameWide = r.explainKey(&req)
	if e, res, ok := r.cache.Lookup(x.Key); ok && !e.Split {
		x.Cached = CachedEntry{Found: true, Result: res, IPs: e.IPs, Rcode: e.Rcode, TTL: e.TTL,
			Remaining: e.Remaining(r.cfg.Now()), Scope: e.Scope, Parts: e.Parts}
	}
	// An operator's question goes upstream as a client's miss: it always goes, and is charged to the
	// budget like one, so a flood of them holds background work back rather than adding to it.
	r.budget.allow(KindMiss)
	x.Fresh, x.FreshErr = r.askFresh(ctx, &req, x.Key, KindMiss)
	return x, nil
}

// explainKey is route's choice of key, read without side effects: the tier key, the client's part
// key under a fresh split marker, and the name-wide key when it answers (NXDOMAIN, or an
// auto-global name) and the client's own key holds no fresh answer.
func (r *Resolver) explainKey(req *request) (key cache.Key, split, nameWide bool) {
	key = req.tierKey()
	e, res, ok := r.cache.Lookup(key)
	if ok && e.Split && res == cache.Hit {
		key, split = req.partKey(e.Scope.Bits()), true
		e, res, ok = r.cache.Lookup(key)
	}
	if (ok && res == cache.Hit && !e.Split) || req.rule.Tier == cache.TierGlobal {
		return key, split, false
	}
	g, _, gok := r.cache.Lookup(req.globalKey())
	if gok && !g.Split && (g.Rcode == dns.RcodeNameError || r.autoGlobal.global(req.name, req.qtype)) {
		return req.globalKey(), split, true
	}
	return key, split, false
}

// askFresh asks upstream for req with its own ECS source, routed as a fetch of key would be, and
// parses the reply without storing it. An operator's question (Explain) goes as a client's miss
// does; an accuracy check (accuracy.go) as KindCheck, which never waits for a slot of the pool.
func (r *Resolver) askFresh(ctx context.Context, req *request, key cache.Key, kind Kind) (FreshAnswer, error) {
	if !r.begin() {
		return FreshAnswer{}, ErrUpstreamUnavailable
	}
	defer r.wg.Done()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	p, err := r.ask(ctx, req, key, kind)
	if err != nil {
		return FreshAnswer{}, errors.Join(ErrUpstreamUnavailable, err)
	}
	return FreshAnswer{IPs: p.ips, Rcode: p.rcode, TTL: p.ttl, Scope: p.scope}, nil
}
