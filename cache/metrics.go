package cache

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the cache's Prometheus series. The counters used on the hot
// path are resolved once here, so Get pays one atomic add and no label
// lookup.
type metrics struct {
	requests [tierSlots][resultSlots]prometheus.Counter
	dropped  [tierSlots]prometheus.Counter
	rejected [tierSlots]prometheus.Counter
	evicted  [tierSlots][evictReasons]prometheus.Counter

	collectors []prometheus.Collector
}

// newMetrics builds the series; entries and bytes are read at scrape time,
// maxCost is the constant entry budget.
func newMetrics(entries func(Tier) int64, bytes func() int64, maxCost int64) *metrics {
	m := &metrics{}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "httpdns_cache_requests_total",
		Help: "Cache lookups by tier and result (hit: fresh; stale: expired within the refresh grace; miss: anything else).",
	}, []string{"tier", "result"})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "httpdns_cache_sets_dropped_total",
		Help: "Cache writes ristretto dropped because its write buffer was full.",
	}, []string{"tier"})
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "httpdns_cache_sets_rejected_total",
		Help: "New cache keys refused by ristretto's TinyLFU admission (or larger than the whole budget).",
	}, []string{"tier"})
	evicted := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "httpdns_cache_evictions_total",
		Help: "Cache entries removed, by reason (capacity: to make room; expired: past TTL plus stale window).",
	}, []string{"tier", "reason"})
	m.collectors = append(m.collectors, requests, dropped, rejected, evicted)
	for t := TierSubnet; t <= TierGlobal; t++ {
		for r := Hit; r <= Miss; r++ {
			m.requests[t][r] = requests.WithLabelValues(t.String(), r.String())
		}
		for r := evictCapacity; r < evictReasons; r++ {
			m.evicted[t][r] = evicted.WithLabelValues(t.String(), r.String())
		}
		m.dropped[t] = dropped.WithLabelValues(t.String())
		m.rejected[t] = rejected.WithLabelValues(t.String())
		m.collectors = append(m.collectors, entriesGauge(t, entries))
	}
	m.collectors = append(m.collectors, bytesGauges(bytes, maxCost)...)
	return m
}

// entriesGauge reports tier t's entry count; one gauge per tier, told apart
// by a constant tier label.
func entriesGauge(t Tier, entries func(Tier) int64) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "httpdns_cache_entries",
		Help:        "Entries held by the cache, by tier (expired entries kept for serve-stale included).",
		ConstLabels: prometheus.Labels{"tier": t.String()},
	}, func() float64 { return float64(entries(t)) })
}

// bytesGauges report the bytes held and the bytes the entries may hold.
func bytesGauges(bytes func() int64, maxCost int64) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "httpdns_cache_cost_bytes",
			Help: "Estimated bytes held by cache entries (the sum of their ristretto costs).",
		}, func() float64 { return float64(bytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "httpdns_cache_capacity_bytes",
			Help: "Bytes the cache entries may hold: the configured budget less ristretto's admission counters.",
		}, func() float64 { return float64(maxCost) }),
	}
}

// register registers every series with reg (nil: none), or none of them.
func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for i, col := range m.collectors {
		if err := reg.Register(col); err != nil {
			for _, done := range m.collectors[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("registering cache metrics: %w", err)
		}
	}
	return nil
}

// unregister removes the series from reg (nil: nothing to do).
func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, col := range m.collectors {
		reg.Unregister(col)
	}
}
