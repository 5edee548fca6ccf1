package resolver

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
)

// rcodeSplit marks a cache entry that is not an answer but a pointer: for this name the CDN splits the
// client's block finer, and answers live under keys of the entry's Scope prefix length (DESIGN.md §3.7).
const rcodeSplit = -1

// request is one resolution, located and classified; everything the pipeline derives from a Query.
type request struct {
	name     string
	qtype    uint16
	client   netip.Addr
	rule     Rule
	loc      cidrdb.Location
	part     bool      // the block's answer is not confirmed for this client's part of the block yet
	borrowed bool      // a client finer than /24 served its block's answer (see blockScope)
	fallback cache.Key // where lookup's stale fallback entry lives
}

// tierKey is the cache key of DESIGN.md §3.4: the block for subnet, (country, city, ISP) for cityisp,
// nothing for global. A client the IP library knows nothing about falls back to its block, so unknown
// clients of different networks never share an answer.
func (q *request) tierKey() cache.Key {
	k := cache.Key{Name: q.name, Qtype: q.qtype, Tier: q.rule.Tier}
	switch q.rule.Tier {
	case cache.TierGlobal:
	case cache.TierCityISP:
		if q.loc.Country == "" && q.loc.City == "" && q.loc.ISP == "" {
			k.Scope = q.loc.Block.String()
		} else {
			k.Scope = q.loc.Country + "/" + q.loc.City + "/" + q.loc.ISP
		}
	default:
		k.Scope = q.blockScope().String()
	}
	return k
}

// blockScope is the subnet tier's scope: the client's block, or its /24 (IPv6 /56) when the CIDRDB
// puts it in a network finer than that. We ask the CDN per /24 (the ECS source, DESIGN.md §5), so the
// answer we get for such a client is the /24's, whatever block the client's part of the /24 is in:
// keyed by the block it would be handed to the block's other networks, which may be told otherwise.
func (q *request) blockScope() netip.Prefix {
	if !q.finerThanSource() {
		return q.loc.Block
	}
	p, _ := q.client.Prefix(sourceBitsOf(q.client))
	return p
}

// finerThanSource reports whether the client's CIDRDB network is finer than the ECS source prefix.
func (q *request) finerThanSource() bool {
	return q.loc.Network.IsValid() && q.loc.Network.Bits() > sourceBitsOf(q.client)
}

// globalKey is where answers that hold for every client live: scope-0 and negative answers.
func (q *request) globalKey() cache.Key {
	return cache.Key{Name: q.name, Qtype: q.qtype, Tier: cache.TierGlobal}
}

// subKey is the key of the client's part of a block that the CDN split at bits.
func (q *request) subKey(bits int) cache.Key {
	p, _ := q.client.Prefix(bits)
	return cache.Key{Name: q.name, Qtype: q.qtype, Tier: cache.TierSubnet, Scope: p.String()}
}

// flightKey identifies a cache key for singleflight and in-flight refresh tracking.
func flightKey(k cache.Key) string {
	var b strings.Builder
	b.Grow(len(k.Name) + len(k.Scope) + 12)
	b.WriteString(k.Name)
	b.WriteByte(0)
	b.WriteString(strconv.Itoa(int(k.Qtype)))
	b.WriteByte(0)
	b.WriteString(k.Tier.String())
	b.WriteByte(0)
	b.WriteString(k.Scope)
	return b.String()
}

// flight is the singleflight and in-flight refresh key of a fetch of key for req. Clients in a part
// of a block the answer isn't confirmed for fetch their own part: coalescing them with other parts
// would hand them an answer the CDN gave for another part.
func (q *request) flight(k cache.Key) string {
	if !q.part {
		return flightKey(k)
	}
	src := ecsSource(q.client)
	return flightKey(k) + "\x00" + src.String()
}
