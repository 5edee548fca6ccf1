package resolver

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
	"github.com/miekg/dns"
)

// This file is the key policy: every rule that decides which cache key a client reads and which key
// an upstream answer fills (docs/design.md §5). route reads, place writes; nothing else in the
// resolver picks a key.
//
// The keys of one name and type:
//   - the tier key: the client's block for the subnet tier (its /24, IPv6 /56, when the CIDRDB puts
//     it in a network finer than that), "country/city/ISP" for the city+ISP tier, nothing for the
//     global tier;
//   - a part key: the client's prefix at the length a CDN splits its block at for this name;
//   - the name-wide key (the global tier's key): answers for everyone. A name of another tier only
//     ever reads it for NXDOMAIN, and for an answer while the name is auto-global (autoglobal.go).
//
// What a block (tier) key holds is one of:
//   - an answer for the whole block (Parts empty);
//   - an answer confirmed only for some parts of the block (Parts): the CDN scoped its answers finer
//     than the block, but every part asked so far got the same one, so the learnt block holds;
//   - a split marker (Split, Scope's length): parts got different answers, so for this name the CDN
//     really splits the block, and each client reads the part key of its own part.

// request is one resolution, classified and located: everything the pipeline derives from a Query.
type request struct {
	name   string
	qtype  uint16
	client netip.Addr
	rule   Rule
	src    netip.Prefix // the ECS source prefix sent upstream; invalid for the global tier and for clients that must not be sent
	loc    cidrdb.Location
	names  *scopeNames // the resolver's interned scope texts
}

// routed is where one request stands in the cache: the entry that answers it, if any, and on a miss
// the key a fetch fills and the flight it joins.
type routed struct {
	key      cache.Key    // where entry lives; it labels the answer
	entry    cache.Entry  // the entry found
	res      cache.Result // Hit and Stale answer; Miss goes upstream
	held     bool         // on a Miss: entry is an expired answer to fall back to if upstream fails (RFC 8767)
	fill     cache.Key    // the key a fetch for this client fills (place may move the answer)
	part     bool         // the block's answer holds for other parts only: fetch this client's own part
	borrowed bool         // a client finer than /24 answered from its block's key
	verify   bool         // answered name-wide for an auto-global name: also ask for the client's own key (autoglobal.go)
}

// route reads the cache for req, in the policy's order.
func (r *Resolver) route(req *request) routed {
	own := req.tierKey()
	if own.Tier == cache.TierSubnet && req.finerThanSource() {
		// Rule: a client of a network finer than /24 is fetched for under its /24 (that is all we
		// can ask the CDN about), but its block's answer, fetched for one of the block's wider
		// networks and confirmed for this client's part, is the CDN's answer for it too.
		bk := own
		bk.Scope = req.names.prefix(req.loc.Block)
		if e, res, _ := r.cache.Lookup(bk); res == cache.Hit && !e.Split && e.Rcode == dns.RcodeSuccess && covers(e.Parts, req.client) {
			return routed{key: bk, entry: e, res: res, fill: own, borrowed: true}
		}
	}
	rt := routed{key: own, fill: own, res: cache.Miss}
	e, res, ok := r.cache.Lookup(own)
	switch {
	case ok && e.Split && res == cache.Hit:
		// Rule: a split block sends each client to its own part's key.
		rt.key = req.partKey(e.Scope.Bits())
		rt.fill = rt.key
		e, res, ok = r.cache.Lookup(rt.key)
	case ok && e.Split:
		// Rule: an expired marker says nothing any more: ask afresh for the block.
		ok = false
	case ok && !covers(e.Parts, req.client):
		// Rule: an answer confirmed for other parts only is never served here, not even stale;
		// this client's fetch asks for its own part.
		rt.part, ok = true, false
	}
	if ok {
		rt.entry, rt.res, rt.held = e, res, res == cache.Miss
	}
	if rt.res == cache.Hit || req.rule.Tier == cache.TierGlobal {
		return rt
	}
	return r.routeNameWide(req, rt)
}

// routeNameWide consults the name-wide key for a client whose own key had no fresh answer.
func (r *Resolver) routeNameWide(req *request, rt routed) routed {
	global := r.autoGlobal.global(req.name, req.qtype)
	if global && rt.res == cache.Miss && !rt.held && !rt.part {
		// Rule: an auto-global name is fetched once for everyone.
		rt.fill = req.globalKey()
	}
	ge, gres, gok := r.cache.Lookup(req.globalKey())
	// Rule: the name-wide key answers a client of another tier only with NXDOMAIN (the name does
	// not exist for anyone) or while the name is auto-global.
	if !gok || ge.Split || (ge.Rcode != dns.RcodeNameError && !global) {
		return rt
	}
	switch {
	case gres == cache.Hit || (gres == cache.Stale && rt.res != cache.Stale):
		rt.key, rt.entry, rt.res, rt.held = req.globalKey(), ge, gres, false
		// Rule: an auto-global answer is checked by each new place's first client.
		rt.verify = global && ge.Rcode != dns.RcodeNameError && r.autoGlobal.verify(req)
	case !rt.held && rt.res == cache.Miss && !rt.part:
		rt.key, rt.entry, rt.held = req.globalKey(), ge, true
	}
	return rt
}

// reroute decides whether the answer a flight for rt brought back is this client's. Rules: an
// answer stored name-wide, or under the key the client filled or its own tier key, or for a part
// holding the client, is its answer. The leader's answer may hold only for the leader's part of the
// block: a waiter outside it asks once more, for its own part. A flight for an auto-global name may
// come back scoped (the name stopped being global meanwhile) and be stored under the leader's own
// key: a waiter of another key asks once more, for its own.
func (q *request) reroute(rt routed, f fetched) (routed, bool) {
	switch {
	case rt.part || f.key.Tier == cache.TierGlobal:
		return rt, false
	case f.valid.IsValid() && f.valid.Contains(q.client):
		return rt, false
	case !f.valid.IsValid() && (f.key == rt.fill || f.key == q.tierKey()):
		return rt, false
	case rt.fill.Tier == cache.TierGlobal:
		rt.fill = q.tierKey()
	default:
		rt.part = true
	}
	return rt, true
}

// covers reports whether client is in one of parts; no parts means the key's whole scope.
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

// place applies the ECS scope rules to an answer fetched for req to fill key fill (RFC 7871 §7.3,
// docs/design.md §5), and returns the key to store e under; valid is the part of that key's scope
// the answer holds for when narrower, else zero. It may record a split signal and update e's Parts.
func (r *Resolver) place(req *request, fill cache.Key, part bool, p parsed, e *cache.Entry) (cache.Key, netip.Prefix) {
	switch {
	case p.rcode == dns.RcodeNameError:
		// Rule: NXDOMAIN says the name does not exist, which does not depend on the client.
		return req.globalKey(), netip.Prefix{}
	case !req.src.IsValid() || p.scope < 0:
		// Rule: asked without ECS, or the upstream ignored it: the reply says nothing about whom it
		// holds for; it fills the key it was fetched for.
		return fill, netip.Prefix{}
	case p.negative || p.scope == 0:
		// Rule: NODATA or scope 0 holds for this client's key only — a GeoDNS without a mapping for
		// the client's region answers so while it scopes answers elsewhere. Only evidence from several
		// blocks in several places makes the name global for everyone (autoglobal.go), and only scope
		// 0 is evidence: a NODATA the CDN scoped says the name differs by client, like any scoped
		// answer, and ends the name's being global.
		if p.scope > 0 {
			r.autoGlobal.scoped(req.name, req.qtype)
		} else if r.autoGlobal.unscoped(req) {
			return req.globalKey(), netip.Prefix{}
		}
		switch {
		case part:
			// Asked for one part of a block whose answer holds for other parts: it holds for
			// this client's /24 (/56), like an answer scoped to it.
			return r.placePart(req, req.src.Bits(), e)
		case fill.Tier == cache.TierGlobal:
			return req.tierKey(), netip.Prefix{}
		}
		return fill, netip.Prefix{}
	}
	// A scoped answer: the name is not global, whatever the evidence so far.
	r.autoGlobal.scoped(req.name, req.qtype)
	if fill.Tier == cache.TierGlobal {
		fill = req.tierKey()
	}
	if req.rule.Tier != cache.TierSubnet {
		// Rule: the city+ISP tier keeps its key whatever the scope (its imprecision is the
		// operator's choice).
		return fill, netip.Prefix{}
	}
	source, block := req.src.Bits(), req.loc.Network.Bits()
	if !req.loc.Network.IsValid() || block > source {
		block = source // keyed by the /24 (blockScope)
	}
	if p.scope == source {
		// Rule: many CDNs echo the source prefix: no information, keep the learnt block. But
		// asked for one part of a block whose answer holds for other parts, it holds for this
		// client's /24 (/56) only, like an unscoped answer: it must not replace theirs.
		if part {
			return r.placePart(req, source, e)
		}
		return fill, netip.Prefix{}
	}
	if p.scope > block {
		// Rule: a scope finer than the block is a split signal for the prober, whether or not it
		// splits the block here.
		r.recordSplit(req, p, *e)
	}
	bits := min(p.scope, source) // we cannot key finer than what we asked for
	if bits <= block {
		// Rule: the answer covers the whole block.
		return fill, netip.Prefix{}
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
	case fresh && old.Split:
		if old.Scope.Bits() >= bits {
			p, _ := req.client.Prefix(old.Scope.Bits())
			return req.partKey(old.Scope.Bits()), p
		}
	case ok && !old.Split && old.Rcode == dns.RcodeSuccess && slices.Equal(old.IPs, e.IPs):
		e.Parts = addPart(old.Parts, part)
		return blockKey, part
	case !fresh || old.Split || old.Rcode != dns.RcodeSuccess || (len(old.Parts) > 0 && covers(old.Parts, req.client)):
		// Nothing current for the block, or this very part's answer changed: start over from it.
		e.Parts = []netip.Prefix{part}
		return blockKey, part
	}
	r.cache.Set(blockKey, cache.Entry{Split: true, Scope: part, TTL: e.TTL, Fetched: e.Fetched})
	return req.partKey(bits), part
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

// tierKey is the client's own key. A client the IP library knows nothing about falls back to its
// block, so unknown clients of different networks never share an answer; a client without a
// location (one we must not send as ECS) shares the key of the tier's scope "".
func (q *request) tierKey() cache.Key {
	k := cache.Key{Name: q.name, Qtype: q.qtype, Tier: q.rule.Tier}
	switch {
	case q.rule.Tier == cache.TierGlobal || !q.loc.Block.IsValid():
	case q.rule.Tier == cache.TierCityISP && (q.loc.Country != "" || q.loc.City != "" || q.loc.ISP != ""):
		k.Scope = q.names.place(place{q.loc.Country, q.loc.City, q.loc.ISP})
	default:
		k.Scope = q.names.prefix(q.blockScope())
	}
	return k
}

// blockScope is the subnet tier's scope: the client's block, or its /24 (IPv6 /56) when the CIDRDB
// puts it in a network finer than that. We ask the CDN per /24, so the answer we get for such a
// client is the /24's, whatever block the client's part of the /24 is in: keyed by the block, it
// would be handed to the block's other networks, which the CDN may tell otherwise.
func (q *request) blockScope() netip.Prefix {
	if !q.finerThanSource() {
		return q.loc.Block
	}
	p, _ := q.client.Prefix(q.src.Bits())
	return p
}

// finerThanSource reports whether the client's CIDRDB network is finer than the ECS source prefix.
func (q *request) finerThanSource() bool {
	return q.src.IsValid() && q.loc.Network.IsValid() && q.loc.Network.Bits() > q.src.Bits()
}

// globalKey is the name-wide key.
func (q *request) globalKey() cache.Key {
	return cache.Key{Name: q.name, Qtype: q.qtype, Tier: cache.TierGlobal}
}

// partKey is the key of the client's part of a block that the CDN split at bits.
func (q *request) partKey(bits int) cache.Key {
	p, _ := q.client.Prefix(bits)
	return cache.Key{Name: q.name, Qtype: q.qtype, Tier: cache.TierSubnet, Scope: q.names.prefix(p)}
}

// siblingKey is the subnet-tier key of block, a sibling of the client's block prefetched with it.
func (q *request) siblingKey(block netip.Prefix) cache.Key {
	return cache.Key{Name: q.name, Qtype: q.qtype, Tier: cache.TierSubnet, Scope: q.names.prefix(block)}
}

// flight is the singleflight and in-flight refresh key of a fetch filling k. Rule: clients in a
// part of a block the answer isn't confirmed for fetch their own part; coalescing them with other
// parts would hand them an answer the CDN gave for another part.
func (q *request) flight(k cache.Key, part bool) string {
	var b strings.Builder
	b.Grow(len(k.Name) + len(k.Scope) + 48)
	b.WriteString(k.Name)
	b.WriteByte(0)
	b.WriteString(strconv.Itoa(int(k.Qtype)))
	b.WriteByte(0)
	b.WriteString(k.Tier.String())
	b.WriteByte(0)
	b.WriteString(k.Scope)
	if part {
		b.WriteByte(0)
		b.WriteString(q.src.String())
	}
	return b.String()
}
