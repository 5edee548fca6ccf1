package eval

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/cdnsim"
)

// TestBars runs a reduced comparison (the default workload's rate over 9 minutes instead of 30)
// and holds the designs to the published Cache 2.0 bars: the learnt library at most 40% of the
// city+ISP cache's misroutes and at most 30% of the fixed /24 cache's entries; the recommended
// configuration, against the fixed /24 cache, a hit ratio at least 15 points higher with at most
// 30% of its upstream queries and entries, at most 2 misroutes per 10,000 and at most 40% of the
// city+ISP cache's. The full table comes from `go run ./internal/eval/compare`.
func TestBars(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the whole evaluation")
	}
	world, err := cdnsim.NewWorld(cdnsim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	env, err := NewEnv(world, 2, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	ctx := context.Background()
	learnt, rep, err := env.Learn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.BlocksAfter >= rep.BlocksBefore {
		t.Fatalf("learning merged nothing: %d blocks from %d", rep.BlocksAfter, rep.BlocksBefore)
	}
	designs := slices.DeleteFunc(RefreshDesigns(learnt, env), func(c Cache) bool {
		return !slices.Contains([]string{"city+ISP", "fixed /24", "learnt CIDRDB", "recommended"}, c.Name)
	})
	res, err := Compare(ctx, env, designs, Workload{Requests: 150_000, Span: 9 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s\n%s", Table(res), Breakdown(res))
	cityISP, fixed, adaptive, rec := res[0], res[1], res[2], res[3]
	for _, r := range []Result{adaptive, rec} {
		if r.Misroutes*10 > cityISP.Misroutes*4 {
			t.Errorf("%s misroutes %d, more than 40%% of the city+ISP cache's %d", r.Name, r.Misroutes, cityISP.Misroutes)
		}
		if r.Entries*10 > fixed.Entries*3 {
			t.Errorf("%s holds %d entries, more than 30%% of the /24 cache's %d", r.Name, r.Entries, fixed.Entries)
		}
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
