package resolver

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/miekg/dns"
)

// refreshShare is the last part of a TTL in which a hit also refreshes in the background (DESIGN.md §3.5).
const refreshShare = 10

// Resolve answers q. It reads top to bottom as the pipeline of DESIGN.md §3:
// policy -> locate -> cache -> singleflight -> exchange -> store.
func (r *Resolver) Resolve(ctx context.Context, q Query) (Answer, error) {
	name, err := CanonicalName(q.Name)
	if err != nil {
		return Answer{}, err
	}
	if q.Qtype != TypeA && q.Qtype != TypeAAAA {
		return Answer{}, ErrInvalidType
	}
	client := q.Client.Unmap()
	// Policy first: the tier decides what the key is made of. req stays on the stack: fetches and
	// refreshes that outlive this call take copies.
	req := &request{name: name, qtype: q.Qtype, client: client, rule: r.cfg.Policy.Lookup(name)}
	// Locate only when the key needs it; a global name serves every client the same.
	if req.rule.Tier != cache.TierGlobal {
		req.loc = r.cfg.Locator.Locate(client)
	}
	key, e, res, haveEntry := r.lookup(req)
	r.track(req, key, res != cache.Miss)
	now := r.cfg.Now()
	switch res {
	case cache.Hit:
		if e.Rcode == dns.RcodeServerFailure {
			return Answer{}, ErrUpstreamUnavailable
		}
		// In the last tenth of its TTL: answer now, refresh after responding.
		left := e.Remaining(now)
		if left*refreshShare <= e.TTL && !req.borrowed { // a borrowed answer is its block's clients' to refresh
			r.refreshAsync(req, key, KindPassive)
		}
		return r.answer(req, key, e, left, "hit"), nil
	case cache.Stale:
		// Expired within the refresh grace: serve-then-refresh, with a small TTL so the app asks again soon.
		if e.Rcode != dns.RcodeServerFailure {
			r.refreshAsync(req, key, KindPassive)
			return r.answer(req, key, e, r.ttlSeconds(r.cfg.MinTTL), "stale"), nil
		}
	}
	fresh, err := r.fetch(ctx, req, key)
	if err == nil {
		return r.answer(req, fresh.key, fresh.entry, fresh.entry.TTL, "miss"), nil
	}
	// Every upstream failed: an answer we still hold beats an error (RFC 8767).
	if haveEntry && e.Rcode != dns.RcodeServerFailure {
		r.metrics.staleServed.Inc()
		return r.answer(req, req.fallback, e, r.ttlSeconds(r.cfg.StaleAnswerTTL), "stale"), nil
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return Answer{}, ctx.Err()
	}
	return Answer{}, ErrUpstreamUnavailable
}

// lookup finds the entry for req: the tier key, following a split marker to the client's part of the
// block, then the global key where scope-0 and negative answers live. It returns the key a fetch should
// fill and the best entry found (ok: an entry exists, maybe expired, usable as a stale fallback; a
// fallback from another key than the one returned sets req.fallback, which labels the answer).
// A block's answer confirmed only for some parts of the block is a miss for a client outside them
// (req.part is set, so its fetch is not coalesced with other parts').
func (r *Resolver) lookup(req *request) (cache.Key, cache.Entry, cache.Result, bool) {
	key := req.tierKey()
	if key.Tier == cache.TierSubnet && req.finerThanSource() {
		// A client of a network finer than /24 is fetched for under its /24, but its block's answer,
		// fetched for one of the block's wider networks, holds for it too.
		bk := key
		bk.Scope = req.loc.Block.String()
		if e, res, _ := r.cache.Get(bk); res == cache.Hit && e.Rcode == dns.RcodeSuccess && covers(e.Parts, req.client) {
			req.fallback, req.borrowed = bk, true
			return bk, e, res, true
		}
	}
	e, res, ok := r.cache.Get(key)
	switch {
	case ok && e.Rcode == rcodeSplit && res == cache.Hit:
		key = req.subKey(e.Scope.Bits())
		e, res, ok = r.cache.Get(key)
	case ok && e.Rcode == rcodeSplit:
		// An expired marker says nothing any more: ask afresh for the block.
		e, res, ok = cache.Entry{}, cache.Miss, false
	case ok && !covers(e.Parts, req.client):
		// Confirmed for other parts only: never served here, not even stale.
		req.part = true
		e, res, ok = cache.Entry{}, cache.Miss, false
	}
	req.fallback = key
	if res == cache.Hit || req.rule.Tier == cache.TierGlobal {
		return key, e, res, ok
	}
	ge, gres, gok := r.cache.Get(req.globalKey())
	if gres == cache.Hit || (gres == cache.Stale && res != cache.Stale) {
		req.fallback = req.globalKey()
		return req.globalKey(), ge, gres, gok
	}
	if !ok && gok {
		req.fallback = req.globalKey()
		return key, ge, res, gok
	}
	return key, e, res, ok
}

// covers reports whether client is in one of parts; no parts means the whole key's scope.
func covers(parts []netip.Prefix, client netip.Addr) bool {
	if len(parts) == 0 {
		return true
	}
	for _, p := range parts {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

// answer turns a cache entry into an Answer with ttl remaining seconds.
func (r *Resolver) answer(req *request, key cache.Key, e cache.Entry, ttl uint32, source string) Answer {
	if ttl == 0 {
		ttl = 1
	}
	a := Answer{
		Name:      req.name,
		Qtype:     req.qtype,
		IPs:       e.IPs,
		TTL:       ttl,
		OriginTTL: e.TTL,
		Tier:      key.Tier.String(),
		Scope:     key.Scope,
		Source:    source,
	}
	return a
}

func (r *Resolver) ttlSeconds(d time.Duration) uint32 {
	return uint32(d / time.Second)
}
