package cache

import (
	"math"
	"math/bits"
	"net/netip"
)

// typicalName and typicalScope size the entry that NumCounters is planned
// for: a 26-byte host name in the city+ISP tier with two addresses.
const (
	typicalName  = "img-cdn.static.example.com"
	typicalScope = "CN/Beijing/Telecom"
	typicalIPs   = 2
	// countersPerItem is how many TinyLFU counters ristretto should keep per
	// item it can hold: its documentation recommends 10.
	countersPerItem = 10
	// minCounters keeps the admission sketch meaningful for tiny caches.
	minCounters = 64
	// bloomFalsePositives is the doorkeeper's false-positive rate that
	// ristretto hard-codes in newTinyLFU.
	bloomFalsePositives = 0.01
)

// budget is how a byte budget is split between ristretto's admission counters
// and the entries.
type budget struct {
	// numCounters is ristretto's NumCounters: about countersPerItem per
	// typical entry, rounded down to a power of two (ristretto rounds up
	// internally, so a power of two wastes nothing).
	numCounters int64
	// counterBytes is what those counters occupy.
	counterBytes int64
	// maxCost is ristretto's MaxCost: the bytes left for entries.
	maxCost int64
}

// planBudget splits maxBytes so that counters and entries together stay
// within it. With typical entries the counters take about a tenth.
func planBudget(maxBytes int64) budget {
	typical := (&item{
		key:   Key{Name: typicalName, Scope: typicalScope},
		entry: Entry{IPs: make([]netip.Addr, typicalIPs)},
	}).cost()
	n := prevPow2(max(countersPerItem*(maxBytes/typical), minCounters))
	cb := counterBytes(n)
	return budget{numCounters: n, counterBytes: cb, maxCost: maxBytes - cb}
}

// counterBytes mirrors ristretto's allocations for n counters: a count-min
// sketch of 4 rows of 4-bit counters (next power of two of n, two counters a
// byte) and a doorkeeper bloom filter of -n·ln(p)/ln²2 bits rounded up to a
// power of two (at least 512 bits).
func counterBytes(n int64) int64 {
	sketch := 4 * nextPow2(n) / 2
	bloomBits := int64(float64(n) * -math.Log(bloomFalsePositives) / (math.Ln2 * math.Ln2))
	bloom := nextPow2(max(bloomBits, 512)) / 8
	return sketch + bloom
}

// prevPow2 returns the largest power of two ≤ n (n > 0).
func prevPow2(n int64) int64 {
	return 1 << (bits.Len64(uint64(n)) - 1)
}

// nextPow2 returns the smallest power of two ≥ n (n > 0).
func nextPow2(n int64) int64 {
	return 1 << bits.Len64(uint64(n-1))
}
