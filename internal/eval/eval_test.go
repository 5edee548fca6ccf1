package eval

import (
	"context"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/cdnsim"
)

// TestLearntCIDRDBBars runs a reduced comparison and holds the learnt library to the bars of the
// adaptive-subnet cache: at most 40% of the city+ISP cache's misroutes and at most 30% of the
// fixed /24 cache's entries. The full table comes from `go run ./internal/eval/compare`.
func TestLearntCIDRDBBars(t *testing.T) {
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
	res, err := Compare(ctx, env, Designs(learnt), Workload{Requests: 100_000, Span: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", Table(res))
	cityISP, fixed, adaptive := res[0], res[1], res[2]
	if adaptive.Misroutes*10 > cityISP.Misroutes*4 {
		t.Errorf("learnt CIDRDB misroutes %d, more than 40%% of the city+ISP cache's %d", adaptive.Misroutes, cityISP.Misroutes)
	}
	if adaptive.Entries*10 > fixed.Entries*3 {
		t.Errorf("learnt CIDRDB holds %d entries, more than 30%% of the /24 cache's %d", adaptive.Entries, fixed.Entries)
	}
	if adaptive.HitRatio <= fixed.HitRatio {
		t.Errorf("learnt CIDRDB hit ratio %.3f, not above the /24 cache's %.3f", adaptive.HitRatio, fixed.HitRatio)
	}
}
