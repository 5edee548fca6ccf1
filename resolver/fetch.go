package resolver

import (
	"context"
	"errors"
	"net/netip"

	"github.com/httpdns/httpdns/cache"
	"github.com/miekg/dns"
)

// fetched is an answer just stored, with the key it was stored under (which the ECS scope may have
// moved away from the key that was filled).
type fetched struct {
	key   cache.Key
	entry cache.Entry
	valid netip.Prefix // the clients the answer holds for when narrower than key's scope; zero: all of it
	l2    bool         // taken from the fleet's shared cache (l2.go), not fetched upstream now
}

// fetch fills rt.fill from upstream. Concurrent misses for one key share one upstream query
// (singleflight). The leader runs detached from the client's context with its own deadline, so a
// client that gives up does not fail the others; each waiter still returns as soon as its own
// context ends. The answer a flight brings back may not be this client's (route.go, reroute): the
// client then asks once more, for the key reroute gives.
func (r *Resolver) fetch(ctx context.Context, req *request, rt routed) (fetched, error) {
	for {
		f, err := r.fetchOnce(ctx, req, rt.fill, rt.part)
		if err != nil {
			return f, err
		}
		next, again := req.reroute(rt, f)
		if !again {
			return f, nil
		}
		rt = next
	}
}

// fetchOnce joins or leads the flight filling key for req.
func (r *Resolver) fetchOnce(ctx context.Context, req *request, key cache.Key, part bool) (fetched, error) {
	fk := req.flight(key, part)
	if f, ok := r.landing.get(fk, r.cfg.Now()); ok {
		return f, nil // a fetch of this key just ended; the cache may not show it yet
	}
	leader := *req // the leader may outlive this call; copying keeps req itself off the heap on hits
	ch := r.group.DoChan(fk, func() (any, error) {
		// The leader is background work too: Close ends it and waits for it, so nothing it does
		// (store, split signal, prefetch) happens after Close returns.
		if !r.begin() {
			return fetched{}, ErrUpstreamUnavailable
		}
		defer r.wg.Done()
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.RequestTimeout)
		defer cancel()
		stop := context.AfterFunc(r.ctx, cancel)
		defer stop()
		// Another node of the fleet may have fetched this key: its answer, from the shared cache (l2.go),
		// spares the upstream query. Only here, for a client's miss: refreshes stay this node's own.
		if f, ok := r.fromL2(fctx, &leader, key, part); ok {
			r.landing.put(fk, f, r.cfg.Now())
			return f, nil
		}
		r.budget.allow(KindMiss) // a client's miss always goes; it only holds background work back
		f, err := r.exchangeAndStore(fctx, &leader, key, part, KindMiss)
		if err == nil {
			r.landing.put(fk, f, r.cfg.Now())
		}
		return f, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return fetched{}, res.Err
		}
		return res.Val.(fetched), nil
	case <-ctx.Done():
		return fetched{}, ctx.Err()
	}
}

// begin counts one piece of background work in r.wg, unless Close has begun.
func (r *Resolver) begin() bool {
	r.closeMu.RLock()
	defer r.closeMu.RUnlock()
	if r.closed {
		return false
	}
	r.wg.Add(1)
	return true
}

// refreshAsync refetches key in the background, at most once at a time per key and within the
// refresh bound; when the bound is full the refresh is skipped (the next request tries again).
func (r *Resolver) refreshAsync(req *request, key cache.Key, kind Kind) {
	r.closeMu.RLock()
	defer r.closeMu.RUnlock()
	if r.closed {
		return
	}
	fk := req.flight(key, false)
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
		_, err, _ := r.group.Do(fk, func() (any, error) { return r.exchangeAndStore(ctx, &bg, key, false, kind) })
		result := "ok"
		if err != nil {
			result = "error"
			r.cfg.Logger.Debug("refresh failed", "name", bg.name, "scope", key.Scope, "err", err)
		}
		r.metrics.refreshes.WithLabelValues(kind.String(), result).Inc()
	}()
}

// exchangeAndStore asks upstream for req, to fill key, and stores the answer where the key policy
// places it (route.go). When every node fails it remembers the failure briefly under key, unless an
// answer is held there or name-wide (that one is kept for serve-stale).
func (r *Resolver) exchangeAndStore(ctx context.Context, req *request, key cache.Key, part bool, kind Kind) (fetched, error) {
	p, err := r.ask(ctx, req, key, kind)
	now := r.cfg.Now()
	if err != nil {
		r.cfg.Logger.Debug("upstream failed", "name", req.name, "err", err)
		if errors.Is(err, ErrUpstreamBusy) {
			return fetched{}, err // nothing was asked: nothing to remember
		}
		if !r.holdsAnswer(req, key) {
			r.cache.Set(key, cache.Entry{Rcode: dns.RcodeServerFailure, TTL: r.ttlSeconds(r.cfg.ServfailTTL), Fetched: now})
		}
		return fetched{}, errors.Join(ErrUpstreamUnavailable, err)
	}
	e := cache.Entry{IPs: p.ips, Rcode: p.rcode, TTL: r.clampTTL(p), Fetched: now}
	if p.scope >= 0 && req.src.IsValid() {
		e.Scope, _ = req.client.Prefix(min(p.scope, req.src.Bits()))
	}
	storeKey, valid := r.place(req, key, part, p, &e)
	r.cache.Set(storeKey, e)
	r.noteFetched(storeKey, kind)
	if storeKey != key {
		r.noteFetched(key, kind)
	}
	if kind != KindPrefetch && storeKey.Tier == cache.TierSubnet {
		r.prefetchSiblings(req, e)
	}
	f := fetched{key: storeKey, entry: e, valid: valid}
	r.putL2(req, key, f) // shared with the fleet under the key filled, which is what other nodes' misses read
	return f, nil
}

// holdsAnswer reports whether the cache still holds an answer (fresh or expired, not a remembered
// failure) that serves req's client from key or name-wide: that one is kept for serve-stale rather
// than replaced by the failure.
func (r *Resolver) holdsAnswer(req *request, key cache.Key) bool {
	if e, ok := r.cache.Peek(key); ok && !e.Split && e.Rcode != dns.RcodeServerFailure {
		return true
	}
	if key.Tier == cache.TierGlobal {
		return false
	}
	e, ok := r.cache.Peek(req.globalKey())
	return ok && !e.Split && (e.Rcode == dns.RcodeNameError ||
		(e.Rcode != dns.RcodeServerFailure && r.autoGlobal.global(req.name, req.qtype)))
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

func (r *Resolver) recordSplit(req *request, p parsed, e cache.Entry) {
	r.metrics.splits.Inc()
	if r.cfg.Splits == nil {
		return
	}
	scope, _ := req.client.Prefix(p.scope)
	r.cfg.Splits.RecordSplit(SplitSignal{
		Name: req.name, Qtype: req.qtype, Block: req.loc.Network, Source: req.src, Scope: scope,
		Answer: e.IPs, Time: e.Fetched,
	})
}
