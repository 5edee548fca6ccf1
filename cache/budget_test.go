package cache

import (
	"fmt"
	"net/netip"
	"testing"
)

func TestPlanBudget(t *testing.T) {
	t.Parallel()
	typical := newItem(Key{Name: typicalName, Scope: typicalScope, Tier: TierCityISP}, Entry{IPs: make([]netip.Addr, typicalIPs)}).cost()
	for _, maxBytes := range []int64{MinMaxBytes, 64 << 10, 1 << 20, 64 << 20, DefaultMaxBytes, 8 << 30} {
		t.Run(fmt.Sprint(maxBytes), func(t *testing.T) {
			t.Parallel()
			p := planBudget(maxBytes)
			if p.numCounters&(p.numCounters-1) != 0 || p.numCounters < minCounters {
				t.Errorf("NumCounters %d is not a power of two ≥ %d", p.numCounters, minCounters)
			}
			if p.counterBytes != counterBytes(p.numCounters) || p.counterBytes+p.maxCost != maxBytes {
				t.Errorf("counters %d + entries %d != MaxBytes %d", p.counterBytes, p.maxCost, maxBytes)
			}
			if share := float64(p.counterBytes) / float64(maxBytes); share > 0.12 {
				t.Errorf("counters take %.0f%% of the budget", 100*share)
			}
			items := p.maxCost / typical
			if perItem := float64(p.numCounters) / float64(items); items > minCounters && (perItem < 5 || perItem > 11) {
				t.Errorf("%.1f counters per typical entry (%d entries), want about %d", perItem, items, countersPerItem)
			}
		})
	}
}

func TestPow2(t *testing.T) {
	t.Parallel()
	tests := []struct{ n, prev, next int64 }{
		{1, 1, 1}, {2, 2, 2}, {3, 2, 4}, {64, 64, 64}, {65, 64, 128}, {1<<40 - 1, 1 << 39, 1 << 40},
	}
	for _, tt := range tests {
		if got := prevPow2(tt.n); got != tt.prev {
			t.Errorf("prevPow2(%d) = %d, want %d", tt.n, got, tt.prev)
		}
		if got := nextPow2(tt.n); got != tt.next {
			t.Errorf("nextPow2(%d) = %d, want %d", tt.n, got, tt.next)
		}
	}
}
