package cache

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// stored counts, per tier, the keys among ks that the cache still holds.
func stored(c *Cache, ks []Key) [tierSlots]int64 {
	var n [tierSlots]int64
	for _, k := range ks {
		if _, ok := c.Peek(k); ok {
			n[k.Tier]++
		}
	}
	return n
}

// checkLen compares Len with the keys the cache really holds.
func checkLen(t *testing.T, c *Cache, ks []Key) {
	t.Helper()
	want := stored(c, ks)
	for tier := TierSubnet; tier <= TierGlobal; tier++ {
		if got := c.Len(tier); got != want[tier] {
			t.Errorf("Len(%v) = %d, but %d keys are stored", tier, got, want[tier])
		}
	}
}

// manyKeys returns n distinct keys spread over the three tiers.
func manyKeys(n int) []Key {
	ks := make([]Key, n)
	for i := range ks {
		tier := Tier(i%3) + TierSubnet
		scope := ""
		if tier != TierGlobal {
			scope = fmt.Sprintf("10.%d.%d.0/24", i>>8&255, i&255)
		}
		ks[i] = Key{Name: fmt.Sprintf("host%d.example.com", i), Qtype: 1, Tier: tier, Scope: scope}
	}
	return ks
}

func TestCountsInsertAndUpdate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		waitBetween bool // apply each write before the next, or queue them all
	}{
		{"updates after apply", true},
		{"updates queued behind the insert", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, clock := newTestCache(t, Config{MaxBytes: 1 << 20})
			ks := manyKeys(6)
			for round := range 5 {
				for _, k := range ks {
					if !c.Set(k, answer(clock.Now(), 60, fmt.Sprintf("192.0.2.%d", round+1))) {
						t.Fatalf("Set dropped")
					}
					if tt.waitBetween {
						c.Wait()
					}
				}
			}
			c.Wait()
			for tier := TierSubnet; tier <= TierGlobal; tier++ {
				if got := c.Len(tier); got != 2 {
					t.Errorf("Len(%v) = %d, want 2", tier, got)
				}
			}
			checkLen(t, c, ks)
			if tt.waitBetween {
				// Applied updates replace the value: the last round is served.
				e, _, _ := c.Get(ks[0])
				if e.IPs[0] != netip.MustParseAddr("192.0.2.5") {
					t.Errorf("after updates Get = %v, want the last write", e.IPs)
				}
			}
		})
	}
}

// TestByteBound writes far more than the budget holds and checks that the
// cost stays within it and that every accepted write is accounted for.
func TestByteBound(t *testing.T) {
	t.Parallel()
	const maxBytes = 64 << 10
	c, clock := newTestCache(t, Config{MaxBytes: maxBytes})
	ks := manyKeys(5000)
	accepted := 0
	for i, k := range ks {
		if c.Set(k, answer(clock.Now(), 300, "192.0.2.1")) {
			accepted++
		}
		if i%256 == 255 {
			c.Wait() // keep the write buffer from overflowing
		}
	}
	c.Wait()

	plan := planBudget(maxBytes)
	if got := c.Bytes(); got <= 0 || got > plan.maxCost || plan.maxCost+plan.counterBytes > maxBytes {
		t.Errorf("Bytes() = %d, entry budget %d, counters %d, MaxBytes %d", got, plan.maxCost, plan.counterBytes, maxBytes)
	}
	held := stored(c, ks)
	total := held[TierSubnet] + held[TierCityISP] + held[TierGlobal]
	if total == 0 || total >= int64(len(ks))/10 {
		t.Errorf("%d of %d keys stored in %d bytes", total, len(ks), maxBytes)
	}
	checkLen(t, c, ks)

	var evicted, rejected float64
	for tier := TierSubnet; tier <= TierGlobal; tier++ {
		evicted += testutil.ToFloat64(c.metrics.evicted[tier][evictCapacity])
		rejected += testutil.ToFloat64(c.metrics.rejected[tier])
	}
	if evicted == 0 {
		t.Errorf("no evictions counted")
	}
	if got := float64(total) + evicted + rejected; got != float64(accepted) {
		t.Errorf("stored %d + evicted %v + rejected %v = %v, want the %d accepted writes", total, evicted, rejected, got, accepted)
	}
}

// TestDroppedSets stalls ristretto's apply goroutine (inside the rejection
// of an entry larger than the whole budget) so that its write buffer fills
// and further Sets are dropped, then checks the drops are counted.
func TestDroppedSets(t *testing.T) {
	t.Parallel()
	c, clock := newTestCache(t, Config{MaxBytes: MinMaxBytes})
	stalled, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c.rejectHook = func() { once.Do(func() { close(stalled); <-release }) }

	huge := Entry{IPs: make([]netip.Addr, 1000), TTL: 60, Fetched: clock.Now()}
	if !c.Set(Key{Name: "huge.example", Qtype: 1, Tier: TierGlobal}, huge) {
		t.Fatal("Set(huge) dropped")
	}
	<-stalled

	const wantDropped = 7
	var ks []Key
	dropped := 0
	for i := 0; dropped < wantDropped; i++ {
		if i > 1<<20 {
			t.Fatalf("no Set was dropped in %d writes", i)
		}
		k := Key{Name: fmt.Sprintf("d%d.example", i), Qtype: 1, Tier: TierSubnet, Scope: "1.2.0.0/20"}
		ks = append(ks, k)
		if !c.Set(k, answer(clock.Now(), 60, "192.0.2.1")) {
			dropped++
		}
	}
	close(release)
	c.Wait()

	if got := testutil.ToFloat64(c.metrics.dropped[TierSubnet]); got != wantDropped {
		t.Errorf("sets_dropped_total{tier=subnet} = %v, want %d", got, wantDropped)
	}
	if got := testutil.ToFloat64(c.metrics.rejected[TierGlobal]); got != 1 {
		t.Errorf("sets_rejected_total{tier=global} = %v, want 1", got)
	}
	if got := c.Len(TierGlobal); got != 0 {
		t.Errorf("Len(global) = %d after the huge entry was rejected", got)
	}
	checkLen(t, c, ks)
}

// TestConcurrentUse hammers one small cache from several goroutines (run it
// with -race) and then checks the per-tier counts against what is stored.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	c, clock := newTestCache(t, Config{MaxBytes: 32 << 10})
	ks := manyKeys(300)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 3000 {
				k := ks[rng.IntN(len(ks))]
				switch rng.IntN(4) {
				case 0:
					c.Set(k, answer(clock.Now(), uint32(1+rng.IntN(60)), "192.0.2.1"))
				case 1:
					c.Peek(k)
				default:
					if e, res, ok := c.Get(k); ok && res == Hit && e.Remaining(clock.Now()) == 0 {
						t.Errorf("hit with nothing remaining: %+v", e)
					}
				}
				_ = c.Len(k.Tier)
			}
		})
	}
	wg.Wait()
	c.Wait()
	checkLen(t, c, ks)
}

// TestManyKeysDistinct checks the helper: distinct keys, tiers in turn.
func TestManyKeysDistinct(t *testing.T) {
	t.Parallel()
	seen := map[Key]bool{}
	for _, k := range manyKeys(3000) {
		if seen[k] {
			t.Fatalf("duplicate key %+v", k)
		}
		seen[k] = true
	}
	if got := fmt.Sprint(manyKeys(3)[2].Tier); got != "global" {
		t.Errorf("third key's tier = %s", got)
	}
}
