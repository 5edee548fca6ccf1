package eval

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/internal/cdnsim"
)

// TestChecksTrackMisroutes runs the city+ISP cache (about one answer in ten misrouted on the
// evaluation world) with an accuracy check of 1 answer in 4 and holds the measured mismatch rate
// to the true misroute rate of the same answers: within 4 standard errors of a sample of that many
// checks (the answers served stale are checked as unknown, never asked). The global names, cached
// name-wide, are neither misrouted nor found to mismatch.
func TestChecksTrackMisroutes(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs a workload")
	}
	env := testEnv(t, cdnsim.EvalConfig(), 2)
	w := Workload{Requests: 40_000, Span: 144 * time.Second}
	res, err := Run(context.Background(), env, Cache{Name: "city+ISP", DefaultTier: cache.TierCityISP, Checks: 4}, w)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", AccuracyTable([]Result{res}))
	c := res.Tiers["cityisp"]
	if c == nil || c.Misroutes < 1000 {
		t.Fatalf("city+ISP tier %+v: want its usual misroutes", c)
	}
	judged := float64(c.Match + c.Mismatch)
	if judged < float64(c.Requests)/4*0.9 {
		t.Fatalf("%v checks judged of %d answers at 1 in 4 (skipped %v, unknown %d)", judged, c.Requests, res.ChecksSkipped, c.Unknown)
	}
	measured, lo, hi := c.MeasuredRate()
	truth := c.TrueRate()
	se := math.Sqrt(truth * (1 - truth) / judged)
	if math.Abs(measured-truth) > 4*se {
		t.Errorf("measured mismatch rate %.4f (95%% %.4f–%.4f), true misroute rate %.4f: more than 4 standard errors (%.4f) apart",
			measured, lo, hi, truth, se)
	}
	if g := res.Tiers["global"]; g != nil && (g.Misroutes != 0 || g.Mismatch != 0) {
		t.Errorf("global tier %+v", g)
	}
}
