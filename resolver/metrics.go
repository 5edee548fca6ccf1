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

// accuracyMetrics are the accuracy checks' series (accuracy.go), every label pair created up front
// so a rate over them starts at zero rather than missing:
//
//	httpdns_accuracy_checks_total{tier,result}        checks by the served key's tier and result
//	httpdns_accuracy_checks_skipped_total{reason}     sampled requests not checked, by reason
type accuracyMetrics struct {
	checks  [len(checkTiers)][len(checkResults)]prometheus.Counter
	skipped [len(skipReasons)]prometheus.Counter
}

func newAccuracyMetrics(reg prometheus.Registerer) *accuracyMetrics {
	checks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "httpdns_accuracy_checks_total",
		Help: "Accuracy checks (a sampled answer asked again upstream with the client's own /24 or /56) by the served key's tier and result: match, mismatch (no edge network in common), unknown.",
	}, []string{"tier", "result"})
	skipped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "httpdns_accuracy_checks_skipped_total",
		Help: "Sampled answers not checked, by reason: rate (over the checks' cap a second), budget (upstream budget too low), busy (upstream pool nearly full), no_ecs (client never sent as ECS).",
	}, []string{"reason"})
	m := &accuracyMetrics{}
	for ti, t := range checkTiers {
		for ri, res := range checkResults {
			m.checks[ti][ri] = checks.WithLabelValues(t.String(), res)
		}
	}
	for i, reason := range skipReasons {
		m.skipped[i] = skipped.WithLabelValues(reason)
	}
	if reg != nil {
		reg.MustRegister(checks, skipped)
	}
	return m
}
