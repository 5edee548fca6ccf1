package eval

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/cdnsim"
)

// testEnv is the world of cfg served by nodes DNS servers on loopback, with its geo databases in a
// temporary directory; closed when the test ends.
func testEnv(t *testing.T, cfg cdnsim.Config, nodes int) *Env {
	t.Helper()
	world, err := cdnsim.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env, err := NewEnv(world, nodes, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	return env
}

// TestBars runs a reduced comparison (the default workload's rate over 7.2 minutes instead of 30,
// 10% of the requests from IPv6 clients of the evaluation world's /32–/40 allocations, the
// learnt library probed with the /56s the day before asked from) and holds the designs to the
// published Cache 2.0 bars and to no IPv6 misroute at all, with IPv6 probing cheaper than IPv4: the learnt library at most 40% of the
// city+ISP cache's misroutes and at most 30% of the fixed /24 cache's entries; the recommended
// configuration, against the fixed /24 cache, a hit ratio at least 15 points higher with at most
// 30% of its upstream queries and entries, at most 2 misroutes per 10,000 and at most 40% of the
// city+ISP cache's. The full table comes from `go run ./internal/eval/compare`.
func TestBars(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the whole evaluation")
	}
	env := testEnv(t, cdnsim.EvalConfig(), 2)
	ctx := context.Background()
	learnt, rep, err := env.Learn(ctx, LearnOptions{Demand: Workload{Requests: 120_000, Span: 432 * time.Second}.Demand(env.World, env.Names())})
	if err != nil {
		t.Fatal(err)
	}
	if rep.BlocksAfter >= rep.BlocksBefore {
		t.Fatalf("learning merged nothing: %d blocks from %d", rep.BlocksAfter, rep.BlocksBefore)
	}
	designs := slices.DeleteFunc(RefreshDesigns(learnt, env), func(c Cache) bool {
		return !slices.Contains([]string{"city+ISP", "fixed /24", "learnt CIDRDB", "recommended"}, c.Name)
	})
	res, err := Compare(ctx, env, designs, Workload{Requests: 120_000, Span: 432 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s\n%s\n%s", Table(res), FamilyTable(res), Breakdown(res))
	cityISP, fixed, adaptive, rec := res[0], res[1], res[2], res[3]
	for _, r := range []Result{adaptive, rec} {
		if r.Misroutes*10 > cityISP.Misroutes*4 {
			t.Errorf("%s misroutes %d, more than 40%% of the city+ISP cache's %d", r.Name, r.Misroutes, cityISP.Misroutes)
		}
		if r.Entries*10 > fixed.Entries*3 {
			t.Errorf("%s holds %d entries, more than 30%% of the /24 cache's %d", r.Name, r.Entries, fixed.Entries)
		}
	}
	for _, r := range []Result{adaptive, rec} {
		if r.V6.Misroutes != 0 {
			t.Errorf("%s misroutes %d of %d IPv6 answers, want none", r.Name, r.V6.Misroutes, r.V6.Requests)
		}
	}
	if share := float64(rec.V6.Requests) / float64(rec.Requests); share < 0.099 {
		t.Errorf("IPv6 clients make %.3f of the requests, want 10%% at least", share)
	}
	if rec.V6.HitRatio < fixed.V6.HitRatio+0.3 {
		t.Errorf("recommended IPv6 hit ratio %.3f, not 30 points above the per-/56 cache's %.3f", rec.V6.HitRatio, fixed.V6.HitRatio)
	}
	if p := rep.Probe; p == nil || p.IPv6.Queries > p.IPv4.Queries {
		t.Errorf("probing IPv6 cost more than IPv4: %+v", p)
	}
	if rec.MisroutesPer10k > 2 {
		t.Errorf("recommended misroutes %.2f per 10,000, more than 2", rec.MisroutesPer10k)
	}
	if rec.HitRatio < fixed.HitRatio+0.15 {
		t.Errorf("recommended hit ratio %.3f, not 15 points above the /24 cache's %.3f", rec.HitRatio, fixed.HitRatio)
	}
	if rec.UpstreamPer1k > 0.3*fixed.UpstreamPer1k {
		t.Errorf("recommended sends %.1f upstream queries per 1000 requests, more than 30%% of the /24 cache's %.1f",
			rec.UpstreamPer1k, fixed.UpstreamPer1k)
	}
}
