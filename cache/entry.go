package cache

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// Entry is one cached answer. The cache stores a copy on Set and hands out
// copies of the struct on Get and Peek; the IPs slice of a returned Entry is
// shared with the cache, so callers must treat it as read-only (copy before
// appending to or changing it).
type Entry struct {
	// IPs are the answer's addresses, in upstream order; empty for negative
	// answers.
	IPs []netip.Addr
	// Rcode is the DNS rcode (0 success, 3 NXDOMAIN, 2 SERVFAIL); the cache
	// stores it without interpreting it.
	Rcode int
	// TTL is how many seconds the answer is fresh for, already clamped by the
	// caller (RFC 2308 negative TTLs included).
	TTL uint32
	// Fetched is when the answer was fetched upstream; freshness counts from here.
	Fetched time.Time
	// Scope is the client range the answer holds for (the ECS scope prefix,
	// RFC 7871 §7.3); the zero Prefix when not applicable.
	Scope netip.Prefix
	// Parts, when not empty, are the only client ranges inside the key's
	// scope the answer has been confirmed for (the resolver's partly confirmed
	// blocks); empty means the whole scope. Treated like IPs: copied on Set,
	// read-only when returned.
	Parts []netip.Prefix
	// Split marks an entry that is no answer but a pointer: answers for the
	// key's clients live under keys of Scope's prefix length (the resolver's
	// blocks that a CDN splits finer for one name). IPs and Rcode are unused.
	Split bool
}

// Expires returns the instant the entry stops being fresh: Fetched + TTL.
func (e Entry) Expires() time.Time {
	return e.Fetched.Add(time.Duration(e.TTL) * time.Second)
}

// Remaining returns the whole seconds the entry stays fresh after now,
// rounded up: a 60 s entry reports 60 right after it was fetched and 1 in its
// last second, and 0 exactly when it has expired, so Remaining(now) > 0 holds
// exactly when Get would report a Hit. It never exceeds TTL, even when now is
// before Fetched.
func (e Entry) Remaining(now time.Time) uint32 {
	left := e.Expires().Sub(now)
	if left <= 0 {
		return 0
	}
	secs := (left + time.Second - 1) / time.Second
	if secs >= time.Duration(e.TTL) {
		return e.TTL
	}
	return uint32(secs)
}

// Result is how Get classified a lookup.
type Result uint8

// Results of Get. They are also the values of the result label of
// httpdns_cache_requests_total.
const (
	// Hit: the entry is fresh; answer with its remaining TTL.
	Hit Result = iota + 1
	// Stale: the entry expired no longer than Config.RefreshGrace ago; answer
	// it with a short TTL and refresh it after responding (serve-then-refresh).
	Stale
	// Miss: nothing usable without asking upstream. Get may still return an
	// expired entry with it, to fall back to when every upstream fails
	// (RFC 8767 serve-stale).
	Miss
)

// resultSlots sizes arrays indexed by Result; slot 0 is never used.
const resultSlots = int(Miss) + 1

// String returns "hit", "stale" or "miss".
func (r Result) String() string {
	switch r {
	case Hit:
		return "hit"
	case Stale:
		return "stale"
	case Miss:
		return "miss"
	}
	return "Result(" + strconv.Itoa(int(r)) + ")"
}

// item is the value stored in ristretto: the entry together with its full key,
// so Get can reject a 64-bit hash collision and the eviction callbacks know
// the tier to count.
type item struct {
	key   Key
	entry Entry
}

// newItem copies k and e so the item shares no memory with the caller: a name
// sliced out of a request buffer would otherwise pin the whole buffer, and a
// caller appending to its IPs could change a cached answer.
func newItem(k Key, e Entry) *item {
	k.Name = strings.Clone(k.Name)
	k.Scope = strings.Clone(k.Scope)
	e.IPs = slices.Clip(slices.Clone(e.IPs))
	e.Parts = slices.Clip(slices.Clone(e.Parts))
	return &item{key: k, entry: e}
}

// matches reports whether the item was stored under k.
func (it *item) matches(k Key) bool {
	return it.key == k
}

const (
	// itemBytes is the item struct itself.
	itemBytes = int64(unsafe.Sizeof(item{}))
	// addrBytes is one netip.Addr in the IPs slice.
	addrBytes = int64(unsafe.Sizeof(netip.Addr{}))
	// prefixBytes is one netip.Prefix in the Parts slice.
	prefixBytes = int64(unsafe.Sizeof(netip.Prefix{}))
	// bookkeepingBytes is what ristretto spends per stored key besides the
	// value: a storeItem slot in its sharded map (48 bytes of data), a
	// key→cost slot in the eviction policy and a key→conflict slot in the
	// expiry bucket (16 bytes each), each map slot grossed up for Go's map
	// load factor, plus the allocator's size-class rounding of our three
	// allocations (item, name, IPs). Calibrated with BenchmarkBytesPerEntry:
	// a typical entry measured 358–424 heap bytes (depending on where the
	// maps are in their growth) against a cost of 390.
	bookkeepingBytes = 176
)

// cost estimates the bytes the item occupies on the heap, including
// ristretto's own bookkeeping for it; it is the ristretto cost, so the sum
// over all entries is what Config.MaxBytes bounds.
func (it *item) cost() int64 {
	return itemBytes + bookkeepingBytes +
		int64(len(it.key.Name)+len(it.key.Scope)) +
		int64(cap(it.entry.IPs))*addrBytes +
		int64(cap(it.entry.Parts))*prefixBytes
}
