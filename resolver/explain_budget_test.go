package resolver

import (
	"context"
	"net/netip"
	"testing"
)

// TestExplainChargesBudget: each Explain asks upstream as a client's miss, and is charged to the upstream
// budget like one: after a flood of them the lowest-priority work (an accuracy check) finds the budget spent.
// Before, Explain went upstream without a token, and the check after them went as if nothing had.
func TestExplainChargesBudget(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t, AccuracyConfig{Sample: 1}, 10) // the clock stands still: no refill
	client := netip.MustParseAddr("20.1.2.3")
	for range 10 {
		if _, err := e.r.Explain(context.Background(), Query{Name: "ops.acc.test", Qtype: TypeA, Client: client}); err != nil {
			t.Fatal(err)
		}
	}
	before := e.r.Accuracy().Skipped[SkipBudget]
	e.resolve(t, "sub.acc.test", "20.1.2.3")
	if got := e.r.Accuracy().Skipped[SkipBudget]; got != before+1 {
		t.Fatalf("checks skipped for the budget: %d, want %d: ten lookups spent it", got, before+1)
	}
}
