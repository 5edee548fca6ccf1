package cache

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsReadBack(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	c, clock := newTestCache(t, Config{MaxBytes: 1 << 20, RefreshGrace: 30 * time.Second, StaleWindow: time.Hour, Registerer: reg})

	sub := Key{Name: "api.example.com", Qtype: 1, Tier: TierSubnet, Scope: "1.2.0.0/20"}
	isp := Key{Name: "www.example.com", Qtype: 1, Tier: TierCityISP, Scope: "CN/Beijing/Telecom"}
	glob := Key{Name: "cdn.example.net", Qtype: 28, Tier: TierGlobal}
	mustSet(t, c, sub, answer(clock.Now(), 60, "192.0.2.1"))
	mustSet(t, c, isp, answer(clock.Now(), 10, "192.0.2.2"))
	mustSet(t, c, isp, answer(clock.Now(), 10, "192.0.2.3")) // an update, not a second entry

	c.Get(sub)                                        // subnet hit
	c.Get(glob)                                       // global miss
	c.Peek(sub)                                       // not counted
	clock.Advance(20 * time.Second)                   // isp expired 10 s ago
	c.Get(isp)                                        // cityisp stale
	clock.Advance(time.Minute)                        // isp expired 70 s ago
	if _, res, ok := c.Get(isp); res != Miss || !ok { // cityisp miss, entry kept
		t.Fatalf("Get(isp) = %v, %v", res, ok)
	}

	const want = `
# HELP httpdns_cache_entries Entries held by the cache, by tier (expired entries kept for serve-stale included).
# TYPE httpdns_cache_entries gauge
httpdns_cache_entries{tier="cityisp"} 1
httpdns_cache_entries{tier="global"} 0
httpdns_cache_entries{tier="subnet"} 1
# HELP httpdns_cache_requests_total Cache lookups by tier and result (hit: fresh; stale: expired within the refresh grace; miss: anything else).
# TYPE httpdns_cache_requests_total counter
httpdns_cache_requests_total{result="hit",tier="cityisp"} 0
httpdns_cache_requests_total{result="hit",tier="global"} 0
httpdns_cache_requests_total{result="hit",tier="subnet"} 1
httpdns_cache_requests_total{result="miss",tier="cityisp"} 1
httpdns_cache_requests_total{result="miss",tier="global"} 1
httpdns_cache_requests_total{result="miss",tier="subnet"} 0
httpdns_cache_requests_total{result="stale",tier="cityisp"} 1
httpdns_cache_requests_total{result="stale",tier="global"} 0
httpdns_cache_requests_total{result="stale",tier="subnet"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "httpdns_cache_entries", "httpdns_cache_requests_total"); err != nil {
		t.Error(err)
	}

	wantBytes := newItem(sub, answer(clock.Now(), 60, "192.0.2.1")).cost() + newItem(isp, answer(clock.Now(), 10, "192.0.2.3")).cost()
	costWant := fmt.Sprintf(`
# HELP httpdns_cache_cost_bytes Estimated bytes held by cache entries (the sum of their ristretto costs).
# TYPE httpdns_cache_cost_bytes gauge
httpdns_cache_cost_bytes %d
# HELP httpdns_cache_capacity_bytes Bytes the cache entries may hold: the configured budget less ristretto's admission counters.
# TYPE httpdns_cache_capacity_bytes gauge
httpdns_cache_capacity_bytes %d
`, wantBytes, planBudget(1<<20).maxCost)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(costWant), "httpdns_cache_cost_bytes", "httpdns_cache_capacity_bytes"); err != nil {
		t.Error(err)
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

func TestMetricsRegistration(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	first, err := New(Config{MaxBytes: MinMaxBytes, Registerer: reg})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := New(Config{MaxBytes: MinMaxBytes, Registerer: reg}); !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		t.Fatalf("second New on one registry: error %v, want AlreadyRegisteredError", err)
	}
	first.Close()
	second, err := New(Config{MaxBytes: MinMaxBytes, Registerer: reg})
	if err != nil {
		t.Fatalf("New after Close: %v", err)
	}
	defer second.Close()
	n, err := testutil.GatherAndCount(reg)
	if err != nil {
		t.Fatal(err)
	}
	// 9 requests + 3 dropped + 3 rejected + 6 evictions + 3 entries + cost + capacity.
	if n != 26 {
		t.Errorf("%d series registered, want 26", n)
	}
}

func TestMetricsUnregistered(t *testing.T) {
	t.Parallel()
	c, clock := newTestCache(t, Config{MaxBytes: MinMaxBytes})
	k := Key{Name: "a.example", Qtype: 1, Tier: TierGlobal}
	mustSet(t, c, k, answer(clock.Now(), 60, "192.0.2.1"))
	c.Get(k)
	if got := testutil.ToFloat64(c.metrics.requests[TierGlobal][Hit]); got != 1 {
		t.Errorf("hits = %v without a registerer, want 1", got)
	}
}
