package cache

import (
	"net/netip"
	"runtime"
	"testing"
)

// benchEntry is a typical answer: two addresses.
func benchEntry(c *fakeClock) Entry {
	return Entry{
		IPs:     []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")},
		TTL:     300,
		Fetched: c.Now(),
	}
}

// BenchmarkGetHit measures the request path's lookup of a fresh entry.
//
//	go test -run='^$' -bench=GetHit -benchmem ./cache/
func BenchmarkGetHit(b *testing.B) {
	c, clock := newTestCache(b, Config{MaxBytes: 64 << 20})
	ks := manyKeys(1024)
	for _, k := range ks {
		c.Set(k, benchEntry(clock))
		c.Wait()
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, res, _ := c.Get(ks[i&1023]); res != Hit {
				b.Errorf("Get = %v, want hit", res)
				return
			}
			i++
		}
	})
}

// BenchmarkSet measures storing an answer (ristretto applies it
// asynchronously; dropped writes are reported as drops/op).
//
//	go test -run='^$' -bench=Set -benchmem ./cache/
func BenchmarkSet(b *testing.B) {
	c, clock := newTestCache(b, Config{MaxBytes: 64 << 20})
	ks := manyKeys(1 << 16)
	e := benchEntry(clock)
	b.ReportAllocs()
	drops, i := 0, 0
	for b.Loop() {
		if !c.Set(ks[i&(1<<16-1)], e) {
			drops++
		}
		i++
	}
	b.ReportMetric(float64(drops)/float64(i), "drops/op")
}

// BenchmarkBytesPerEntry measures the heap an entry really costs (heap growth
// over entries stored) next to the cost the cache charges for it, and the heap
// ristretto's admission counters take next to what planBudget reserves.
// bookkeepingBytes is calibrated with it.
//
//	go test -run='^$' -bench=BytesPerEntry -benchtime=3x ./cache/
func BenchmarkBytesPerEntry(b *testing.B) {
	const n = 100_000
	const maxBytes = 128 << 20
	ks := manyKeys(n)
	var heap, cost, counters float64
	for b.Loop() {
		before := heapInUse()
		c, clock := newTestCache(b, Config{MaxBytes: maxBytes})
		afterNew := heapInUse()
		e := benchEntry(clock)
		for i, k := range ks {
			c.Set(k, e)
			if i%1024 == 1023 {
				c.Wait()
			}
		}
		c.Wait()
		held := c.Len(TierSubnet) + c.Len(TierCityISP) + c.Len(TierGlobal)
		if held < n*9/10 {
			b.Fatalf("only %d of %d entries stored", held, n)
		}
		heap = float64(heapInUse()-afterNew) / float64(held)
		cost = float64(c.Bytes()) / float64(held)
		counters = float64(afterNew - before)
		runtime.KeepAlive(ks)
		c.Close()
	}
	b.ReportMetric(heap, "bytes/entry")
	b.ReportMetric(cost, "cost/entry")
	b.ReportMetric(counters/float64(planBudget(maxBytes).counterBytes), "counters_heap/reserved")
}

// heapInUse returns the live heap after a full collection.
func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
