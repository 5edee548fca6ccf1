package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/dnsmsg"
	"github.com/miekg/dns"
)

// L2 is a second-level answer cache shared by the nodes of a fleet (docs/design.md §9.5); *fleet.L2 is one on
// Redis. A node reads it on a client's miss, in the flight's leader, before asking upstream, and writes every
// answer it fetched upstream to it. The values are the resolver's (l2Value); the L2 only keeps them.
type L2 interface {
	// Get returns the value stored under key. A miss, an error and a timeout all report false, within the
	// L2's own short bound: the leader then asks upstream as it would without an L2.
	Get(ctx context.Context, key cache.Key) ([]byte, bool)
	// Put stores value under key for ttl without blocking: it may queue the write or drop it.
	Put(key cache.Key, value []byte, ttl time.Duration)
}

// l2Version is the first byte of every value; a value of another version is ignored (a fleet mid-upgrade).
const l2Version = 1

// An L2 value is what one node's fetch for a key stored: the fetched answer, the key it was stored under (the
// ECS scope rules may have moved it from the key filled, route.go's place) and the part of that key's scope it
// holds for. Another node that misses the key it fills stores the same entry under the same key, so the fleet
// behaves as one node would have; it does not run place again, which would judge the reply's scope against
// its own client's /24 rather than the one the answer was asked for.
//
// Encoding, big-endian: version byte; flags (1: the stored key is name-wide); the stored key's tier and
// scope (uvarint length + text); rcode byte; TTL uint32; fetched unix milliseconds int64; entry scope, valid
// (prefixes); IP count uvarint then addresses; part count uvarint then prefixes. An address is its length
// (0, 4 or 16) and bytes; a prefix its address and its length in bits.

// errBadL2 reports a value this resolver cannot read.
var errBadL2 = errors.New("resolver: bad L2 value")

// encodeL2 encodes f, fetched to fill some key of the same name and type.
func encodeL2(f fetched) []byte {
	e := f.entry
	b := make([]byte, 0, 48+len(f.key.Scope)+len(e.IPs)*17+len(e.Parts)*18)
	b = append(b, l2Version, 0, byte(f.key.Tier))
	b = binary.AppendUvarint(b, uint64(len(f.key.Scope)))
	b = append(b, f.key.Scope...)
	b = append(b, byte(e.Rcode))
	b = binary.BigEndian.AppendUint32(b, e.TTL)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Fetched.UnixMilli()))
	b = appendPrefix(b, e.Scope)
	b = appendPrefix(b, f.valid)
	b = binary.AppendUvarint(b, uint64(len(e.IPs)))
	for _, a := range e.IPs {
		b = appendAddr(b, a)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Parts)))
	for _, p := range e.Parts {
		b = appendPrefix(b, p)
	}
	return b
}

func appendAddr(b []byte, a netip.Addr) []byte {
	s := a.AsSlice()
	return append(append(b, byte(len(s))), s...)
}

func appendPrefix(b []byte, p netip.Prefix) []byte {
	if !p.IsValid() {
		return append(b, 0)
	}
	return append(appendAddr(b, p.Addr()), byte(p.Bits()))
}

// l2Reader decodes a value; the first problem sticks and every later read returns zero.
type l2Reader struct {
	b   []byte
	err error
}

func (r *l2Reader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = errBadL2
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *l2Reader) bytes(n uint64) []byte {
	if r.err != nil || uint64(len(r.b)) < n {
		r.err = errBadL2
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *l2Reader) uint32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *l2Reader) uint64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *l2Reader) uvarint(max uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > max {
		r.err = errBadL2
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *l2Reader) addr() netip.Addr {
	n := uint64(r.byte())
	if n != 0 && n != 4 && n != 16 {
		r.err = errBadL2
	}
	a, _ := netip.AddrFromSlice(r.bytes(n))
	return a
}

func (r *l2Reader) prefix() netip.Prefix {
	a := r.addr()
	if !a.IsValid() {
		return netip.Prefix{}
	}
	p := netip.PrefixFrom(a, int(r.byte()))
	if !p.IsValid() {
		r.err = errBadL2
	}
	return p
}

// decodeL2 decodes a value written for a key of name and qtype.
func decodeL2(v []byte, name string, qtype uint16) (fetched, error) {
	r := &l2Reader{b: v}
	if r.byte() != l2Version {
		return fetched{}, errBadL2
	}
	r.byte() // flags: none defined yet
	f := fetched{key: cache.Key{Name: name, Qtype: qtype, Tier: cache.Tier(r.byte())}}
	f.key.Scope = string(r.bytes(r.uvarint(512)))
	f.entry.Rcode = int(r.byte())
	f.entry.TTL = r.uint32()
	f.entry.Fetched = time.UnixMilli(int64(r.uint64()))
	f.entry.Scope = r.prefix()
	f.valid = r.prefix()
	if n := r.uvarint(maxL2Addrs); n > 0 {
		f.entry.IPs = make([]netip.Addr, n)
		for i := range f.entry.IPs {
			f.entry.IPs[i] = r.addr()
		}
	}
	if n := r.uvarint(maxParts); n > 0 {
		f.entry.Parts = make([]netip.Prefix, n)
		for i := range f.entry.Parts {
			f.entry.Parts[i] = r.prefix()
		}
	}
	if r.err != nil || len(r.b) != 0 || !f.key.Tier.Valid() || slices.Contains(f.entry.IPs, netip.Addr{}) {
		return fetched{}, errBadL2
	}
	return f, nil
}

// maxL2Addrs bounds the addresses of a value: 32 a family is what a reply keeps (docs/design.md §6.2).
const maxL2Addrs = 64

// sharedRcode reports whether an answer of rcode is shared: answers and negative answers (NXDOMAIN, NODATA)
// are, with their TTL (RFC 2308); a failure is this node's own business and is never shared.
func sharedRcode(rcode int) bool {
	return rcode == dns.RcodeSuccess || rcode == dns.RcodeNameError
}

// putL2 writes f, just fetched upstream for req to fill key, to the L2 under key, for its remaining lifetime.
// An answer for one part of a block is also written under the part's own key: the block's key holds the last
// part fetched, and a client of another part finds its own there (fromL2).
func (r *Resolver) putL2(req *request, key cache.Key, f fetched) {
	if r.cfg.L2 == nil || !sharedRcode(f.entry.Rcode) {
		return
	}
	ttl := f.entry.Expires().Sub(r.cfg.Now())
	if ttl <= 0 {
		return
	}
	v := encodeL2(f)
	r.cfg.L2.Put(key, v, ttl)
	if f.valid.IsValid() {
		if pk := req.partKey(f.valid.Bits()); pk != key {
			r.cfg.L2.Put(pk, v, ttl)
		}
	}
}

// fromL2 answers the flight filling key (part: for req's part of its block) from the L2, if it holds a fresh
// answer there that is req's client's, and stores it in the cache. ok false: ask upstream.
func (r *Resolver) fromL2(ctx context.Context, req *request, key cache.Key, part bool) (fetched, bool) {
	if r.cfg.L2 == nil {
		return fetched{}, false
	}
	f, ok, err := r.readL2(ctx, key)
	if ok && err == nil && f.valid.IsValid() && !f.valid.Contains(req.client) && f.key.Tier == cache.TierSubnet {
		// Another part's answer: this client's part may be under its own key.
		if pk := req.partKey(f.valid.Bits()); pk != key {
			f, ok, err = r.readL2(ctx, pk)
		}
	}
	switch {
	case !ok:
		return fetched{}, false
	case err != nil || !r.plausibleL2(f, key.Qtype):
		r.metrics.l2.WithLabelValues("corrupt").Inc()
		return fetched{}, false
	case f.entry.Remaining(r.cfg.Now()) == 0 || !sharedRcode(f.entry.Rcode):
		r.metrics.l2.WithLabelValues("expired").Inc()
		return fetched{}, false
	}
	f, ok = r.adoptL2(req, key, part, f)
	if !ok {
		r.metrics.l2.WithLabelValues("foreign").Inc()
		return fetched{}, false
	}
	r.metrics.l2.WithLabelValues("used").Inc()
	f = r.storeL2(req, key, f)
	f.l2 = true
	return f, true
}

// l2ClockSkew is how far in this node's future another node's fetch time may lie: the nodes' clocks
// differ a little; a value fetched later than that was not written by a node of this fleet.
const l2ClockSkew = time.Minute

// plausibleL2 reports whether f, decoded from the L2, is an answer a resolver of this fleet could have
// stored for a key of qtype: anyone who reaches Redis can write a value that decodes, and a used value is
// cached and served as this node's own. Its TTL is within this node's clamps (MaxTTL, NegativeMaxTTL for a
// negative answer: a TTL of years would pin it here for years), it was not fetched in the future (which
// would keep it fresh past its TTL), its addresses are distinct and of qtype's family (at most
// dnsmsg.MaxAddrs, which the decoding bounds), and an NXDOMAIN holds none.
func (r *Resolver) plausibleL2(f fetched, qtype uint16) bool {
	e := f.entry
	maxTTL := r.ttlSeconds(r.cfg.MaxTTL)
	if len(e.IPs) == 0 || e.Rcode != dns.RcodeSuccess {
		maxTTL = min(maxTTL, r.ttlSeconds(r.cfg.NegativeMaxTTL))
	}
	if e.TTL > maxTTL || e.Fetched.After(r.cfg.Now().Add(l2ClockSkew)) {
		return false
	}
	if e.Rcode == dns.RcodeNameError && len(e.IPs) > 0 || len(e.IPs) > dnsmsg.MaxAddrs {
		return false
	}
	for i, a := range e.IPs {
		if (qtype == TypeA) != a.Is4() || a.Is4In6() || slices.Contains(e.IPs[:i], a) {
			return false
		}
	}
	return true
}

// sharedAnswer reports whether key's answer here was taken from the fleet's shared cache and not
// fetched since: the node that fetched it refreshes it (docs/design.md §9.5).
func (r *Resolver) sharedAnswer(key cache.Key) bool {
	return r.cfg.L2 != nil && r.recent.shared(key)
}

// readL2 reads and decodes the value under key.
func (r *Resolver) readL2(ctx context.Context, key cache.Key) (fetched, bool, error) {
	v, ok := r.cfg.L2.Get(ctx, key)
	if !ok {
		return fetched{}, false, nil
	}
	f, err := decodeL2(v, key.Name, key.Qtype)
	return f, true, err
}

// adoptL2 decides whether f, another node's fetch for key, answers req's client, by the rules reroute
// applies to a flight's answer: stored name-wide, or under key or the client's own key for all of its scope,
// or for a part holding the client. A scope-0 answer another node stored name-wide because it judged the
// name auto-global is, on this node, which has not seen that evidence, an answer for key only, as rule 3 of
// place has it; asked for one part of a block, such an answer is left to upstream.
func (r *Resolver) adoptL2(req *request, key cache.Key, part bool, f fetched) (fetched, bool) {
	switch {
	case f.key.Tier == cache.TierGlobal:
		if key.Tier == cache.TierGlobal || f.entry.Rcode == dns.RcodeNameError || r.autoGlobal.global(req.name, req.qtype) {
			return f, true
		}
		f.key, f.valid = key, netip.Prefix{}
		return f, !part && key == req.tierKey()
	case f.valid.IsValid():
		return f, req.plausiblePart(f) && f.valid.Contains(req.client)
	}
	return f, f.key == key || f.key == req.tierKey()
}

// plausiblePart reports whether f could be a part answer fetched for a client of req's block: a subnet-tier
// answer for a part finer than the block and no finer than the ECS source, as placePart makes them. Anything
// else under the key was not written by a resolver and is not used.
func (q *request) plausiblePart(f fetched) bool {
	if f.key.Tier != cache.TierSubnet || !q.src.IsValid() {
		return false
	}
	source, block := q.src.Bits(), q.loc.Network.Bits()
	if !q.loc.Network.IsValid() || block > source {
		block = source
	}
	return f.valid.Bits() > block && f.valid.Bits() <= source
}

// storeL2 stores an answer adopted from the L2 where the node that fetched it stored it, and returns it as
// stored. An answer for a part of the client's block (valid) goes through placePart, as one fetched here
// would: the part is the same for this client (it holds the client), while what the block's key holds here
// (other parts confirmed, a split marker, nothing) is this node's; the parts the other node confirmed for the
// same addresses are kept too.
func (r *Resolver) storeL2(req *request, key cache.Key, f fetched) fetched {
	if f.valid.IsValid() && f.key.Tier == cache.TierSubnet {
		e := f.entry
		e.Parts = nil
		f.key, f.valid = r.placePart(req, f.valid.Bits(), &e)
		if f.key == req.tierKey() {
			for _, p := range f.entry.Parts {
				e.Parts = addPart(e.Parts, p)
			}
		}
		f.entry = e
	}
	r.cache.Set(f.key, f.entry)
	r.countUnused(r.recent.adopted(f.key))
	if f.key != key {
		r.countUnused(r.recent.adopted(key))
	}
	return f
}
