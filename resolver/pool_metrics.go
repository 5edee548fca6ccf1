package resolver

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Ejection reasons, the reason label of httpdns_upstream_ejections_total.
const (
	reasonErrors = "errors" // too many failed attempts among the recent ones
	reasonSlow   = "slow"   // answering, but far slower than the other nodes
)

// poolMetrics are the upstream pool's health series. The node label takes only configured upstream
// addresses, and every child is made up front so each series exists from the start.
type poolMetrics struct {
	ejections *prometheus.CounterVec
	hedges    *prometheus.CounterVec
	checks    *prometheus.CounterVec
}

func newPoolMetrics(reg prometheus.Registerer, nodes []*upstreamNode) *poolMetrics {
	m := &poolMetrics{
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
			Help: "Active health checks by node and result (ok, timeout, error).",
		}, []string{"node", "result"}),
	}
	for _, n := range nodes {
		m.ejections.WithLabelValues(n.addr, reasonErrors)
		m.ejections.WithLabelValues(n.addr, reasonSlow)
		m.hedges.WithLabelValues(n.addr, "won")
		m.hedges.WithLabelValues(n.addr, "lost")
		m.checks.WithLabelValues(n.addr, resultOK)
	}
	if reg != nil {
		reg.MustRegister(m.ejections, m.hedges, m.checks, newNodeCollector(nodes))
	}
	return m
}

func (m *poolMetrics) hedge(late *upstreamNode, won bool) {
	result := "lost"
	if won {
		result = "won"
	}
	m.hedges.WithLabelValues(late.addr, result).Inc()
}

// nodeCollector exports each node's live state, read from its atomics at scrape time, so the query
// path writes no gauges.
type nodeCollector struct {
	nodes                   []*upstreamNode
	healthy, ewma, inflight *prometheus.Desc
}

func newNodeCollector(nodes []*upstreamNode) *nodeCollector {
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
