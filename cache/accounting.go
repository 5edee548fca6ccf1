package cache

import (
	"github.com/dgraph-io/ristretto/v2"
)

// Per-tier entry counts come from ristretto's callbacks. Ristretto has no
// "added" callback, and a write to an existing key looks the same to the
// caller as a new one (SetWithTTL returns true for both), so the counts are
// kept as "values accepted by Set minus values that left", relying on this
// behaviour of ristretto v2.4.2 (cache.go, store.go, policy.go):
//
//   - Set on a key already in the store swaps the value in place inside
//     SetWithTTL and calls OnExit(old value) right there; the queued update
//     only adjusts the policy's cost, with no further callback. It returns
//     true even when the write buffer is full.
//   - Set on a new key queues it; if the buffer is full it returns false and
//     nothing else happens. Once applied, the key is either admitted (no
//     callback), or refused by TinyLFU or by being larger than MaxCost
//     (OnReject, then OnExit), or, when an earlier queued Set of the same key
//     was admitted first, refused as a duplicate (OnReject, then OnExit).
//   - Admitting a key may evict others: OnEvict then OnExit per victim,
//     with Item.Expiration zero.
//   - The TTL cleanup removes expired keys: OnEvict then OnExit, with
//     Item.Expiration set.
//   - Close (through Clear) evicts every stored key and every new key still
//     queued: OnEvict then OnExit for each.
//
// So OnExit runs exactly once for every value a Set returned true for, and
// never for one it returned false for: the count is exact once writes are
// applied (Cache.Wait). A nil value (ristretto reports a key its store no
// longer had) was never counted and is ignored.

// evictReason labels httpdns_cache_evictions_total.
type evictReason uint8

const (
	// evictCapacity: removed to make room for a new key.
	evictCapacity evictReason = iota
	// evictExpired: removed by ristretto's TTL cleanup, past TTL + stale window.
	evictExpired
	evictReasons
)

// String returns the label value of the reason.
func (r evictReason) String() string {
	if r == evictExpired {
		return "expired"
	}
	return "capacity"
}

// onExit is ristretto's OnExit: a value left the cache or was never admitted.
func (c *Cache) onExit(it *item) {
	if it == nil {
		return
	}
	c.entries[it.key.Tier].Add(-1)
}

// onEvict is ristretto's OnEvict: count why a stored value went. Close's
// clearing is not an eviction worth counting.
func (c *Cache) onEvict(ri *ristretto.Item[*item]) {
	if ri.Value == nil || c.closing.Load() {
		return
	}
	reason := evictCapacity
	if !ri.Expiration.IsZero() {
		reason = evictExpired
	}
	c.metrics.evicted[ri.Value.key.Tier][reason].Inc()
}

// onReject is ristretto's OnReject: admission refused a new key.
func (c *Cache) onReject(ri *ristretto.Item[*item]) {
	if c.rejectHook != nil {
		c.rejectHook()
	}
	if ri.Value == nil {
		return
	}
	c.metrics.rejected[ri.Value.key.Tier].Inc()
}
