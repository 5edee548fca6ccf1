package eval

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/httpdns/httpdns/internal/redistest"
)

// TestRingConsistent: the balancer's ring sends one key to one node, spreads keys over every node, and moves
// only about a share of them when a node joins.
func TestRingConsistent(t *testing.T) {
	t.Parallel()
	three, four := newRing(3), newRing(4)
	counts := map[int]int{}
	moved := 0
	for i := range 3000 {
		k := fmt.Sprintf("10.%d.%d.0/24|img.cdn-a.test", i/256, i%256)
		n := three.get(k)
		if three.get(k) != n {
			t.Fatalf("key %s went to two nodes", k)
		}
		counts[n]++
		if four.get(k) != n {
			moved++
		}
	}
	for n := range 3 {
		if counts[n] < 600 {
			t.Errorf("node %d got %d of 3000 keys: %v", n, counts[n], counts)
		}
	}
	if moved < 450 || moved > 1100 {
		t.Errorf("a fourth node moved %d of 3000 keys, want about a quarter", moved)
	}
}

// TestRunFleetL2: on a short workload, three round-robin nodes with the shared cache on a real Redis ask
// upstream less than without it and answer some requests from it; without L2 none is.
func TestRunFleetL2(t *testing.T) {
	t.Parallel()
	env := testEnv(t, cdnsim.DefaultConfig(), 1)
	rdb := fleet.NewClient([]string{redistest.Start(t)}, "")
	defer rdb.Close()
	ctx := context.Background()
	c := Cache{Name: "city+ISP", DefaultTier: cache.TierCityISP}
	w := Workload{Requests: 6000, Span: 5 * time.Minute}
	newL2 := func() (FleetL2, error) {
		l2, err := fleet.NewL2(rdb, fleet.L2Config{Timeout: time.Second})
		if err == nil {
			t.Cleanup(func() { l2.Close() })
		}
		return l2, err
	}
	var res []FleetResult
	for _, s := range []FleetSetup{{Nodes: 1}, {Nodes: 3}, {Nodes: 3, L2: true}} {
		r, err := RunFleet(ctx, env, c, w, s, newL2)
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, r)
	}
	t.Logf("\n%s", FleetTable(res))
	one, rr, shared := res[0], res[1], res[2]
	if shared.L2Ratio == 0 || shared.UpstreamPer1k >= rr.UpstreamPer1k {
		t.Errorf("with L2: %.1f%% from L2, %.1f upstream queries /1k; without: %.1f", 100*shared.L2Ratio, shared.UpstreamPer1k, rr.UpstreamPer1k)
	}
	if one.L2Ratio != 0 || rr.L2Ratio != 0 {
		t.Errorf("answers from L2 without one: %v, %v", one.L2Ratio, rr.L2Ratio)
	}
}
