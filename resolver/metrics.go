package resolver

import "github.com/prometheus/client_golang/prometheus"

// metrics are the resolver's series; the upstream pool's are package upstream's.
type metrics struct {
	refreshes   *prometheus.CounterVec
	unused      *prometheus.CounterVec
	staleServed prometheus.Counter
	splits      prometheus.Counter
	l2          *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "httpdns_resolver_refreshes_total",
			Help: "Background refreshes by kind (active, passive, prefetch) and result (ok, error, skipped, over_budget).",
		}, []string{"kind", "result"}),
		unused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "httpdns_resolver_refreshes_unused_total",
			Help: "Background refreshes whose answer no client asked for before it was fetched again or the key went cold, by kind.",
		}, []string{"kind"}),
		staleServed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "httpdns_resolver_stale_served_total",
			Help: "Answers served stale because every upstream failed (RFC 8767).",
		}),
		splits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "httpdns_resolver_split_signals_total",
			Help: "Upstream answers whose ECS scope was narrower than the client's block.",
		}),
		l2: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "httpdns_resolver_l2_values_total",
			Help: "Values the shared answer cache returned on a miss, by what the resolver made of them: used, foreign (another client's part), expired, corrupt.",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.refreshes, m.unused, m.staleServed, m.splits, m.l2)
	}
	return m
}

// registerTracker exports the recent-keys tracker's size and evictions, read at scrape time.
func registerTracker(reg prometheus.Registerer, t *recent) {
	if reg == nil {
		return
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "httpdns_resolver_tracked_keys",
			Help: "Keys the recent-keys tracker holds for active refresh and sibling prefetch.",
		}, func() float64 { return float64(t.len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "httpdns_resolver_tracked_evictions_total",
			Help: "Tracked keys evicted (the coldest of a sample) to make room for a new key.",
		}, func() float64 { return float64(t.evicts.Load()) }),
	)
}
