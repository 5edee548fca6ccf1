// Package cache is httpdns's answer cache: one byte-bounded ristretto cache
// holding the three tiers of docs/design.md §4. It knows keys, TTLs and
// byte costs; it knows nothing of DNS messages and imports no other httpdns
// package.
//
// # Keys per tier
//
// An answer is cached under a Key of (name, qtype, tier, scope). The resolver
// picks the tier per domain and fills the scope:
//
//   - TierSubnet: the client's adaptive block from the CIDRDB ("1.2.0.0/20"),
//     or a narrower ECS scope prefix when the CDN splits the block
//     (RFC 7871 §7.3); for high-priority domains.
//   - TierCityISP: "country/city/ISP" ("CN/Beijing/Telecom"); for ordinary
//     domains.
//   - TierGlobal: no scope; for names whose answer is the same for every
//     client (ECS scope 0, and negative answers, RFC 7871 §7.4).
//
// The tier is part of the key, so the same name and scope text in two tiers
// are two entries. Ristretto is keyed by a 64-bit XXH64 of an unambiguous
// encoding of the Key, hashed in a stack buffer so that Get allocates
// nothing; the full Key is stored with the entry and compared on every Get,
// so even a hash collision cannot serve one key's answer for another.
//
// # Freshness and serve-stale
//
// An Entry carries its TTL and the time it was fetched; the cache judges it
// against an injected clock. Get answers Hit while it is fresh; Stale for
// Config.RefreshGrace (30 s) after expiry, when the resolver answers it with a
// short TTL and refreshes behind the response; and after that Miss, but still
// with the entry for Config.StaleWindow (one day), so that the resolver can
// fall back to it when every upstream fails (RFC 8767). Each write gives
// ristretto the entry's remaining lifetime (TTL + StaleWindow after Fetched,
// as the injected clock reckons), which ristretto then counts down on the
// real clock; Get checks the same limit on the injected clock, so no entry is
// ever served past TTL + stale window, whichever clock runs ahead.
//
// # Byte costs
//
// Entries differ a lot in size (a CDN name with eight IPv6 addresses against
// a negative answer), and the budget operators set is memory, so each entry
// costs its estimated heap bytes: the struct, the name and scope, the
// addresses and ristretto's own per-key bookkeeping (IgnoreInternalCost is
// set because that is already included). Config.MaxBytes also pays for
// ristretto's TinyLFU admission counters, about ten per entry that fits; the
// rest bounds the sum of entry costs. BenchmarkBytesPerEntry compares the
// estimate with the measured heap.
//
// # What ristretto implies for callers
//
// Writes are applied asynchronously, may be dropped when ristretto's write
// buffer is full, and new keys may be refused by admission when the cache is
// full; Set's result and the httpdns_cache_sets_dropped_total and
// httpdns_cache_sets_rejected_total counters show how often. A Get right after
// a Set can miss until the write is applied (Wait applies it, for tests).
// Ristretto cannot enumerate its keys: active refresh keeps its own index of
// the keys it refreshes.
//
// # Metrics
//
// Built from Config.Registerer: httpdns_cache_entries{tier},
// httpdns_cache_requests_total{tier,result}, httpdns_cache_sets_dropped_total{tier},
// httpdns_cache_sets_rejected_total{tier}, httpdns_cache_evictions_total{tier,reason},
// httpdns_cache_cost_bytes and httpdns_cache_capacity_bytes.
package cache
