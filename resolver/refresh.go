package resolver

import (
	"context"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/miekg/dns"
)

// coldTTLs is how many TTLs a key may go unasked before it stops being tracked ("hot" means asked
// within the last few TTLs).
const coldTTLs = 3

// minColdAfter keeps keys with very short TTLs tracked for a while anyway.
const minColdAfter = time.Minute

// track records a client's request for sibling prefetch (subnet tier) and active refresh (active
// rules). Other requests are not tracked, nor is a borrowed block answer: the block's own clients
// refresh it. A client of a part the block's answer is not confirmed for counts as demand but is
// not kept as the key's client: a refresh asks with the kept client's ECS and stores the reply as
// the block's answer, which must be the answer of a part it holds for.
func (r *Resolver) track(req *request, rt routed) {
	if rt.borrowed || (req.rule.Refresh != RefreshActive && rt.key.Tier != cache.TierSubnet) {
		return
	}
	r.recent.touch(rt.key, req, r.cfg.Now(), rt.res != cache.Miss, !rt.part)
}

// noteFetched records a fetch of key for the refresh engine, and counts the fetch before it as
// unused when it was a background refresh no client asked for since.
func (r *Resolver) noteFetched(key cache.Key, kind Kind) {
	r.countUnused(r.recent.fetched(key, kind))
}

// countUnused counts an unused refresh of kind k, when wasted.
func (r *Resolver) countUnused(k Kind, wasted bool) {
	if wasted {
		r.metrics.unused.WithLabelValues(k.String()).Inc()
	}
}

// runRefresher sweeps the tracked keys every interval until ctx ends.
func (r *Resolver) runRefresher(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Sweep()
		}
	}
}

// Sweep drops keys that went cold and refreshes the hot keys of active rules that reached their
// refresh point (80–90% of the TTL, jittered per key so refreshes don't synchronise), so their
// next request hits. It is the active refresh of docs/design.md §7.2. A key is hot enough to refresh when
// clients asked for it at least ActiveMinAsks times since it was last fetched: a key asked more
// than once a TTL costs one upstream query a TTL anyway, and refreshing it ahead only turns its
// miss into a hit; a key asked less often would cost more refreshed than missed.
// The background loop calls it every SweepInterval; a simulation on a fake clock calls it itself.
func (r *Resolver) Sweep() {
	r.sweepMu.Lock()
	defer r.sweepMu.Unlock()
	now := r.cfg.Now()
	r.sweepBuf = r.recent.snapshot(r.sweepBuf)
	for _, it := range r.sweepBuf {
		e, ok := r.cache.Peek(it.key)
		ttl := minColdAfter
		if ok && e.TTL > 0 {
			ttl = max(time.Duration(e.TTL)*time.Second*coldTTLs, minColdAfter)
		}
		if now.Sub(it.asked) > ttl {
			r.countUnused(r.recent.drop(it.key, it.asked))
			continue
		}
		// An answer taken from the fleet's shared cache is refreshed by the node that fetched it; here it
		// is read again from the shared cache when it expires (docs/design.md §9.5).
		if !it.active || it.shared || (ok && e.Split) || it.asks < r.cfg.ActiveMinAsks {
			continue
		}
		if !ok || pastRefreshPoint(e, it.refreshAt, now) {
			if tk, tracked := r.recent.get(it.key); tracked && (!ok || covers(e.Parts, tk.req.client)) {
				r.refreshAsync(&tk.req, it.key, KindActive)
			}
		}
	}
}

// prefetchSiblings refreshes up to PrefetchSiblings blocks next to req's (same country, city and
// ISP, nearest by address) whose answer is missing or past its refresh point (80–90% of its TTL) and
// that clients asked for at least ActiveMinAsks times since it was fetched, each at most once per
// TTL (docs/design.md §7.3), so their next request hits. The demand bar is active refresh's: a sibling
// asked less often would cost more prefetched than missed, and one refreshed earlier in its TTL
// would only be refreshed more often.
func (r *Resolver) prefetchSiblings(req *request, e cache.Entry) {
	sl, ok := r.cfg.Locator.(siblingLocator)
	if !ok || r.cfg.PrefetchSiblings <= 0 || req.rule.Tier != cache.TierSubnet || e.Rcode != dns.RcodeSuccess {
		return
	}
	now := r.cfg.Now()
	for _, block := range sl.Siblings(req.loc, r.cfg.PrefetchSiblings) {
		key := req.siblingKey(block)
		it, tracked := r.recent.get(key)
		if !tracked || it.asks < r.cfg.ActiveMinAsks || it.shared {
			continue // not in demand since its last fetch, or another node's to refresh
		}
		cur, cached := r.cache.Peek(key)
		if cached && (cur.Split || !covers(cur.Parts, it.req.client) || !pastRefreshPoint(cur, it.refreshAt, now)) {
			continue
		}
		if !r.recent.markPrefetched(key, now, time.Duration(e.TTL)*time.Second) {
			continue
		}
		sib := it.req
		r.refreshAsync(&sib, key, KindPrefetch)
	}
}
