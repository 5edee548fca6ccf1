package resolver

import (
	"context"
	"errors"
	"net/netip"
	"slices"

	"github.com/httpdns/httpdns/cache"
	"github.com/miekg/dns"
)

// fetched is an answer just stored, with the key it was stored under (which the ECS scope may have
// moved away from the key that was asked for).
type fetched struct {
	key   cache.Key
	entry cache.Entry
	valid netip.Prefix // the clients the answer holds for when narrower than key's scope; zero: all of it
}

// fetch fills key from upstream. Concurrent misses for one key share one upstream query (singleflight).
// The leader runs detached from the client's context with its own deadline, so a client that gives
// up does not fail the others; each waiter still returns as soon as its own context ends.
func (r *Resolver) fetch(ctx context.Context, req *request, key cache.Key) (fetched, error) {
	leader := *req // the leader may outlive this call; copying keeps req itself off the heap on hits
	ch := r.group.DoChan(req.flight(key), func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.RequestTimeout)
		defer cancel()
		r.budget.allow(KindMiss) // a client's miss always goes; it only holds background work back
		return r.exchangeAndStore(fctx, &leader, key, KindMiss)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return fetched{}, res.Err
		}
		f := res.Val.(fetched)
		// The leader's answer may hold only for the leader's part of the block: a waiter outside it
		// asks again for its own part.
		if f.valid.IsValid() && !f.valid.Contains(req.client) && !req.part {
			req.part = true
			return r.fetch(ctx, req, key)
		}
		return f, nil
	case <-ctx.Done():
		return fetched{}, ctx.Err()
	}
}

// refreshAsync refetches key in the background, at most once at a time per key and within the
// refresh bound; when the bound is full the refresh is skipped (the next request tries again).
func (r *Resolver) refreshAsync(req *request, key cache.Key, kind Kind) {
	r.closeMu.RLock()
	defer r.closeMu.RUnlock()
	if r.closed {
		return
	}
	fk := req.flight(key)
	if _, running := r.inflight.LoadOrStore(fk, struct{}{}); running {
		return
	}
	select {
	case r.sem <- struct{}{}:
	default:
		r.inflight.Delete(fk)
		r.metrics.refreshes.WithLabelValues(kind.String(), "skipped").Inc()
		return
	}
	if !r.budget.allow(kind) {
		<-r.sem
		r.inflight.Delete(fk)
		r.metrics.refreshes.WithLabelValues(kind.String(), "over_budget").Inc()
		return
	}
	bg := *req // the refresh outlives the request
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() { <-r.sem; r.inflight.Delete(fk) }()
		ctx, cancel := context.WithTimeout(r.ctx, r.cfg.RequestTimeout)
		defer cancel()
		_, err, _ := r.group.Do(fk, func() (any, error) { return r.exchangeAndStore(ctx, &bg, key, kind) })
		result := "ok"
		if err != nil {
			result = "error"
			r.cfg.Logger.Debug("refresh failed", "name", bg.name, "scope", key.Scope, "err", err)
		}
		r.metrics.refreshes.WithLabelValues(kind.String(), result).Inc()
	}()
}

// exchangeAndStore asks upstream for req and stores the answer under the key its ECS scope calls for.
// When every node fails it remembers the failure briefly under key, unless an answer is cached there
// (that one is kept for serve-stale).
func (r *Resolver) exchangeAndStore(ctx context.Context, req *request, key cache.Key, kind Kind) (fetched, error) {
	var src netip.Prefix
	if req.rule.Tier != cache.TierGlobal {
		src = ecsSource(req.client)
	}
	q := newQuery(req.name, req.qtype, src)
	reply, err := r.pool.exchange(ctx, q, req.name+"|"+key.Scope)
	now := r.cfg.Now()
	if err != nil {
		r.cfg.Logger.Debug("all upstreams failed", "name", req.name, "err", err)
		_, held := r.cache.Peek(key)
		_, heldGlobal := r.cache.Peek(req.globalKey())
		if !held && !heldGlobal {
			r.cache.Set(key, cache.Entry{Rcode: dns.RcodeServerFailure, TTL: r.ttlSeconds(r.cfg.ServfailTTL), Fetched: now})
		}
		return fetched{}, errors.Join(ErrUpstreamUnavailable, err)
	}
	p := parseReply(reply, req.name, req.qtype, r.ttlSeconds(r.cfg.NegativeMaxTTL))
	e := cache.Entry{IPs: p.ips, Rcode: p.rcode, TTL: r.clampTTL(p), Fetched: now}
	if p.scope >= 0 && src.IsValid() {
		e.Scope, _ = req.client.Prefix(min(p.scope, src.Addr().BitLen()))
	}
	storeKey, valid := r.placement(req, key, p, src, &e)
	r.cache.Set(storeKey, e)
	r.noteFetched(storeKey, kind)
	if storeKey != key {
		r.noteFetched(key, kind)
	}
	if kind != KindPrefetch && storeKey.Tier == cache.TierSubnet {
		r.prefetchSiblings(req, e)
	}
	return fetched{key: storeKey, entry: e, valid: valid}, nil
}

// clampTTL applies the configured bounds; negative answers are capped lower (RFC 2308 §5).
func (r *Resolver) clampTTL(p parsed) uint32 {
	lo, hi := r.ttlSeconds(r.cfg.MinTTL), r.ttlSeconds(r.cfg.MaxTTL)
	if p.negative {
		hi = min(hi, r.ttlSeconds(r.cfg.NegativeMaxTTL))
		lo = min(lo, hi)
	}
	return max(lo, min(p.ttl, hi))
}

// placement applies the ECS scope rules of DESIGN.md §3.7 and returns the key to store e under.
// valid is the part of the key's scope the answer holds for when it is narrower, else zero.
func (r *Resolver) placement(req *request, key cache.Key, p parsed, src netip.Prefix, e *cache.Entry) (cache.Key, netip.Prefix) {
	// Negative answers hold for everyone (RFC 7871 §7.4); so do answers with scope 0.
	if p.negative || (p.scope == 0 && src.IsValid()) {
		return req.globalKey(), netip.Prefix{}
	}
	// An answer fetched for a name found under the global key, now scoped to a client, is not
	// global any more: it goes back to the name's tier.
	if key.Tier == cache.TierGlobal && req.rule.Tier != cache.TierGlobal {
		key = req.tierKey()
	}
	if !src.IsValid() || p.scope < 0 || req.rule.Tier != cache.TierSubnet {
		return key, netip.Prefix{}
	}
	source, block := src.Bits(), req.loc.Network.Bits()
	if !req.loc.Network.IsValid() || block > source {
		block = source // keyed by the /24 (blockScope)
	}
	if p.scope == source && block <= source {
		return key, netip.Prefix{} // many CDNs echo the source: no information, keep the learnt block
	}
	if p.scope > block {
		r.recordSplit(req, p, src, *e)
	}
	bits := min(p.scope, source)
	if bits <= block {
		return key, netip.Prefix{}
	}
	return r.placePart(req, bits, e)
}

// maxParts bounds the confirmed parts one block entry remembers.
const maxParts = 256

// placePart stores an answer the CDN gave for only a part (of bits) of the client's block. While the
// parts asked so far get the same answer, the learnt block holds: the block's entry keeps the answer
// and the list of parts it is confirmed for, and a client of another part asks once for its own part.
// A part with a different answer while the block's is fresh means the CDN really splits the block
// for this name: a marker on the block's key sends every client to the key of its own part.
func (r *Resolver) placePart(req *request, bits int, e *cache.Entry) (cache.Key, netip.Prefix) {
	blockKey := req.tierKey()
	part, _ := req.client.Prefix(bits)
	old, ok := r.cache.Peek(blockKey)
	fresh := ok && old.Remaining(r.cfg.Now()) > 0
	switch {
	case fresh && old.Rcode == rcodeSplit:
		if old.Scope.Bits() >= bits {
			sub := req.subKey(old.Scope.Bits())
			p, _ := req.client.Prefix(old.Scope.Bits())
			return sub, p
		}
	case ok && old.Rcode == dns.RcodeSuccess && slices.Equal(old.IPs, e.IPs):
		e.Parts = addPart(old.Parts, part)
		return blockKey, part
	case !fresh || old.Rcode != dns.RcodeSuccess || (len(old.Parts) > 0 && covers(old.Parts, req.client)):
		// Nothing current for the block, or this very part's answer changed: start over from it.
		e.Parts = []netip.Prefix{part}
		return blockKey, part
	}
	r.cache.Set(blockKey, cache.Entry{Rcode: rcodeSplit, Scope: part, TTL: e.TTL, Fetched: e.Fetched})
	return req.subKey(bits), part
}

// addPart returns parts with part added; no parts means the whole block, which part cannot widen.
func addPart(parts []netip.Prefix, part netip.Prefix) []netip.Prefix {
	within := func(p netip.Prefix) bool { return p.Bits() <= part.Bits() && p.Contains(part.Addr()) }
	if len(parts) == 0 || slices.ContainsFunc(parts, within) {
		return parts
	}
	out := append(slices.Clone(parts), part)
	if len(out) > maxParts {
		out = out[len(out)-maxParts:]
	}
	return out
}

func (r *Resolver) recordSplit(req *request, p parsed, src netip.Prefix, e cache.Entry) {
	r.metrics.splits.Inc()
	if r.cfg.Splits == nil {
		return
	}
	scope, _ := req.client.Prefix(p.scope)
	r.cfg.Splits.RecordSplit(SplitSignal{
		Name: req.name, Qtype: req.qtype, Block: req.loc.Network, Source: src, Scope: scope,
		Answer: e.IPs, Time: e.Fetched,
	})
}
