package upstream

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Ejection reasons, the reason label of httpdns_upstream_ejections_total.
const (
	reasonErrors = "errors" // too many failures that were the node's among the recent outcomes
	reasonSlow   = "slow"   // answering, but far slower than the other nodes
)

// metrics are the pool's series. The node label takes only configured upstream addresses, and the
// per-node children of the counters that exist from the start are made up front.
type metrics struct {
	queries   *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	ejections *prometheus.CounterVec
	hedges    *prometheus.CounterVec
	checks    *prometheus.CounterVec
	busy      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, p *Pool) *metrics {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "httpdns_upstream_queries_total",
			Help: "Upstream DNS attempts by node and result (ok, servfail, refused, timeout, truncated, bad_reply, error, local_error, cancelled).",
		}, []string{"node", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "httpdns_upstream_duration_seconds",
			Help:    "Duration of upstream DNS attempts by node.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"node"}),
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "httpdns_upstream_ejections_total",
			Help: "Upstream nodes taken out of the ring, by node and reason (errors, slow).",
		}, []string{"node", "reason"}),
		hedges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "httpdns_upstream_hedges_total",
			Help: "Hedged queries by the node that was late and result: won (the next node answered first) or lost.",
		}, []string{"node", "result"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "httpdns_upstream_checks_total",
			Help: "Active health checks by node and result (ok, servfail, refused, timeout, bad_reply, error, local_error).",
		}, []string{"node", "result"}),
		busy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "httpdns_upstream_busy_total",
			Help: "Exchanges refused because max inflight exchanges were running, by caller: client (after waiting) or background (at once).",
		}, []string{"caller"}),
	}
	for _, n := range p.nodes {
		m.ejections.WithLabelValues(n.addr, reasonErrors)
		m.ejections.WithLabelValues(n.addr, reasonSlow)
		m.hedges.WithLabelValues(n.addr, "won")
		m.hedges.WithLabelValues(n.addr, "lost")
		m.checks.WithLabelValues(n.addr, resultOK)
	}
	m.busy.WithLabelValues("client")
	m.busy.WithLabelValues("background")
	if reg != nil {
		inflight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "httpdns_upstream_exchanges_inflight",
			Help: "Exchanges running now, all nodes together; at most max inflight (upstream_max_inflight).",
		}, func() float64 { return float64(len(p.slots)) })
		reg.MustRegister(m.queries, m.duration, m.ejections, m.hedges, m.checks, m.busy, inflight,
			newNodeCollector(p.nodes))
	}
	return m
}

// attempt counts one attempt at node with result that took d. A truncated reply's retry over TCP is
// timed as its own attempt, so a truncated one is not timed.
func (m *metrics) attempt(node, result string, d time.Duration) {
	m.queries.WithLabelValues(node, result).Inc()
	if result != resultTruncated {
		m.duration.WithLabelValues(node).Observe(d.Seconds())
	}
}

func (m *metrics) hedge(late *node, won bool) {
	result := "lost"
	if won {
		result = "won"
	}
	m.hedges.WithLabelValues(late.addr, result).Inc()
}

// nodeCollector exports each node's live state, read from its atomics at scrape time, so the query
// path writes no gauges.
type nodeCollector struct {
	nodes                   []*node
	healthy, ewma, inflight *prometheus.Desc
}

func newNodeCollector(nodes []*node) *nodeCollector {
	label := []string{"node"}
	return &nodeCollector{
		nodes: nodes,
		healthy: prometheus.NewDesc("httpdns_upstream_node_healthy",
			"1 while the upstream node is in the ring, 0 while it is ejected.", label, nil),
		ewma: prometheus.NewDesc("httpdns_upstream_latency_ewma_seconds",
			"Moving average of the upstream node's reply latency (0 before its first reply).", label, nil),
		inflight: prometheus.NewDesc("httpdns_upstream_inflight",
			"Upstream attempts to the node running now.", label, nil),
	}
}

// Describe sends the collector's three descriptors.
func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.healthy
	ch <- c.ewma
	ch <- c.inflight
}

// Collect sends one sample of each gauge per node.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, n := range c.nodes {
		healthy := 0.0
		if n.healthy.Load() {
			healthy = 1
		}
		ch <- prometheus.MustNewConstMetric(c.healthy, prometheus.GaugeValue, healthy, n.addr)
		ewma := time.Duration(n.ewma.Load()).Seconds()
		ch <- prometheus.MustNewConstMetric(c.ewma, prometheus.GaugeValue, ewma, n.addr)
		ch <- prometheus.MustNewConstMetric(c.inflight, prometheus.GaugeValue, float64(n.inflight.Load()), n.addr)
	}
}
