package resolver

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/dnsmsg"
	"github.com/miekg/dns"
)

// refreshShare is the last part of a TTL in which a hit also refreshes in the background (docs/design.md §7.1).
const refreshShare = 10

// Resolve answers q. It reads top to bottom as the pipeline of docs/design.md §3:
// policy -> locate -> route (the key policy, route.go) -> cache -> singleflight -> exchange -> store.
func (r *Resolver) Resolve(ctx context.Context, q Query) (Answer, error) {
	name, err := CanonicalName(q.Name)
	if err != nil {
		return Answer{}, err
	}
	if q.Qtype != TypeA && q.Qtype != TypeAAAA {
		return Answer{}, ErrInvalidType
	}
	// req stays on the stack: fetches and refreshes that outlive this call take copies.
	req := r.classify(name, q.Qtype, q.Client)
	rt := r.route(&req)
	r.cache.Count(rt.key.Tier, rt.res) // one outcome per request, whatever route read
	r.track(&req, rt)
	r.noteDemand(&req)
	now := r.cfg.Now()
	if rt.verify {
		r.refreshAsync(&req, req.tierKey(), KindPassive)
	}
	switch rt.res {
	case cache.Hit:
		if rt.entry.Rcode == dns.RcodeServerFailure {
			return Answer{}, ErrUpstreamUnavailable
		}
		// In the last tenth of its TTL: answer now, refresh after responding. A borrowed answer is
		// its block's clients' to refresh, one from the fleet's shared cache its fetching node's.
		left := rt.entry.Remaining(now)
		if left*refreshShare <= rt.entry.TTL && !rt.borrowed && !r.sharedAnswer(rt.key) {
			r.refreshAsync(&req, rt.key, KindPassive)
		}
		return r.answer(&req, rt.key, rt.entry, left, "hit"), nil
	case cache.Stale:
		// Expired within the refresh grace: serve-then-refresh, with a small TTL so the app asks again soon.
		// An answer from the fleet's shared cache is not refreshed here: its fetching node refreshes it,
		// so this client's miss reads the shared cache again (and goes upstream only if it holds nothing).
		if rt.entry.Rcode != dns.RcodeServerFailure && !r.sharedAnswer(rt.key) {
			r.refreshAsync(&req, rt.key, KindPassive)
			return r.answer(&req, rt.key, rt.entry, r.ttlSeconds(r.cfg.MinTTL), "stale"), nil
		}
	}
	fresh, err := r.fetch(ctx, &req, rt)
	if err == nil && fresh.l2 {
		// Another node fetched it a while ago: what is left of its TTL.
		return r.answer(&req, fresh.key, fresh.entry, fresh.entry.Remaining(now), "l2"), nil
	}
	if err == nil {
		return r.answer(&req, fresh.key, fresh.entry, fresh.entry.TTL, "miss"), nil
	}
	// Every upstream failed: an answer we still hold for this client beats an error (RFC 8767).
	if (rt.held || rt.res == cache.Stale) && rt.entry.Rcode != dns.RcodeServerFailure {
		r.metrics.staleServed.Inc()
		return r.answer(&req, rt.key, rt.entry, r.ttlSeconds(r.cfg.StaleAnswerTTL), "stale"), nil
	}
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return Answer{}, ctx.Err()
	case errors.Is(err, ErrUpstreamBusy):
		return Answer{}, ErrUpstreamBusy
	}
	return Answer{}, ErrUpstreamUnavailable
}

// classify looks up the name's policy and locates the client. Locating only when the key needs it:
// a global name serves every client the same. A client whose address must not be sent upstream as
// ECS (docs/design.md §6.1) is answered as a client without a location.
func (r *Resolver) classify(name string, qtype uint16, client netip.Addr) request {
	client = dnsmsg.Unwrap(client) // IPv4-mapped and NAT64 addresses stand for IPv4 clients
	req := request{name: name, qtype: qtype, client: client, rule: r.cfg.Policy.Lookup(name), names: r.names}
	if req.rule.Tier == cache.TierGlobal {
		return req
	}
	if req.src = ecsSource(client); req.src.IsValid() {
		req.loc = r.cfg.Locator.Locate(client)
	}
	return req
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
		Rcode:     e.Rcode,
		TTL:       ttl,
		OriginTTL: e.TTL,
		Tier:      key.Tier.String(),
		Scope:     key.Scope,
		Source:    source,
	}
	r.sampleCheck(req, key, &e, source) // accuracy.go: one random draw, unless sampled
	return a
}

func (r *Resolver) ttlSeconds(d time.Duration) uint32 {
	return uint32(d / time.Second)
}
