package resolver

import (
	"testing"
	"time"
)

func TestBudgetPriority(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Unix(0, 0)}
	b := newBudget(100, clk.Now)
	// A burst of client misses spends the whole bucket and more: every one goes.
	for i := range 150 {
		if !b.allow(KindMiss) {
			t.Fatalf("client miss %d refused", i)
		}
	}
	for _, k := range []Kind{KindActive, KindPassive, KindPrefetch} {
		if b.allow(k) {
			t.Errorf("%v allowed with the budget in debt", k)
		}
	}
	// Refilled a little: only the highest background priority fits above its reserve.
	clk.Advance(600 * time.Millisecond) // -50 + 60 = 10 tokens
	if !b.allow(KindActive) {
		t.Error("active refresh refused with 10 tokens above a reserve of 5")
	}
	if b.allow(KindPassive) || b.allow(KindPrefetch) {
		t.Error("passive refresh or prefetch allowed inside its reserve")
	}
	clk.Advance(time.Second) // full again
	got := map[Kind]int{}
	for range 200 {
		for _, k := range []Kind{KindPrefetch, KindPassive, KindActive} {
			if b.allow(k) {
				got[k]++
			}
		}
	}
	if got[KindPrefetch] >= got[KindPassive] || got[KindPassive] >= got[KindActive] {
		t.Errorf("under pressure the shares are %v, want active > passive > prefetch", got)
	}
	if got[KindActive]+got[KindPassive]+got[KindPrefetch] > 100 {
		t.Errorf("background work spent %v, more than the 100-token bucket", got)
	}
}

func TestBudgetUnlimited(t *testing.T) {
	t.Parallel()
	b := newBudget(0, time.Now)
	for range 1000 {
		if !b.allow(KindPrefetch) {
			t.Fatal("an unlimited budget refused")
		}
	}
}
