package console

import (
	"math"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// The series the overview reads (their owners' metrics.go files define them).
const (
	seriesHTTPRequests = "httpdns_http_requests_total"
	seriesHTTPDuration = "httpdns_http_request_duration_seconds"
	seriesHTTPErrors   = "httpdns_http_errors_total"
	seriesCache        = "httpdns_cache_requests_total"
	seriesUpQueries    = "httpdns_upstream_queries_total"
	seriesUpHealthy    = "httpdns_upstream_node_healthy"
	seriesUpEWMA       = "httpdns_upstream_latency_ewma_seconds"
	seriesRefreshes    = "httpdns_resolver_refreshes_total"
	seriesAccuracy     = "httpdns_accuracy_checks_total"
)

// reading is what one gather of the registry gives the overview: cumulative counters (keyed by the
// label values that matter) and the gauges read as they are.
type reading struct {
	requests  float64            // HTTP requests of the serving endpoints
	buckets   []bucket           // their duration histogram, cumulative, summed over endpoints
	errors    map[string]float64 // by error code
	cache     map[[2]string]float64
	upstream  map[[2]string]float64 // by node and result
	healthy   map[string]float64
	ewma      map[string]float64
	refreshes map[string]float64    // by kind, refreshes that went upstream (ok or error)
	accuracy  map[[2]string]float64 // by tier and result; nil when the series does not exist
}

// bucket is one cumulative histogram bucket.
type bucket struct {
	upper float64
	count float64
}

// servingEndpoint reports whether an endpoint label is one clients resolve through, as opposed to
// the operators' (admin_*, console*, metrics) and the probes' (healthz, readyz).
func servingEndpoint(ep string) bool {
	switch {
	case strings.HasPrefix(ep, "admin_"), strings.HasPrefix(ep, "console"):
		return false
	case ep == "metrics", ep == "healthz", ep == "readyz":
		return false
	}
	return true
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// read turns gathered families into a reading.
func read(mfs []*dto.MetricFamily) reading {
	r := reading{errors: map[string]float64{}, cache: map[[2]string]float64{},
		upstream: map[[2]string]float64{}, healthy: map[string]float64{}, ewma: map[string]float64{},
		refreshes: map[string]float64{}}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			r.add(mf.GetName(), m)
		}
	}
	sort.Slice(r.buckets, func(i, j int) bool { return r.buckets[i].upper < r.buckets[j].upper })
	return r
}

func (r *reading) add(name string, m *dto.Metric) {
	v := m.GetCounter().GetValue()
	switch name {
	case seriesHTTPRequests:
		if servingEndpoint(label(m, "endpoint")) {
			r.requests += v
		}
	case seriesHTTPDuration:
		if servingEndpoint(label(m, "endpoint")) {
			r.addHistogram(m.GetHistogram())
		}
	case seriesHTTPErrors:
		r.errors[label(m, "code")] += v
	case seriesCache:
		r.cache[[2]string{label(m, "tier"), label(m, "result")}] += v
	case seriesUpQueries:
		r.upstream[[2]string{label(m, "node"), label(m, "result")}] += v
	case seriesUpHealthy:
		r.healthy[label(m, "node")] = m.GetGauge().GetValue()
	case seriesUpEWMA:
		r.ewma[label(m, "node")] = m.GetGauge().GetValue()
	case seriesRefreshes:
		if res := label(m, "result"); res == "ok" || res == "error" {
			r.refreshes[label(m, "kind")] += v
		}
	case seriesAccuracy:
		if r.accuracy == nil {
			r.accuracy = map[[2]string]float64{}
		}
		r.accuracy[[2]string{label(m, "tier"), label(m, "result")}] += v
	}
}

// addHistogram adds h's cumulative buckets (and its +Inf count) to r's.
func (r *reading) addHistogram(h *dto.Histogram) {
	add := func(upper, count float64) {
		for i := range r.buckets {
			if r.buckets[i].upper == upper {
				r.buckets[i].count += count
				return
			}
		}
		r.buckets = append(r.buckets, bucket{upper, count})
	}
	for _, b := range h.GetBucket() {
		add(b.GetUpperBound(), float64(b.GetCumulativeCount()))
	}
	add(math.Inf(1), float64(h.GetSampleCount()))
}

// delta is cur - prev for a counter, or cur when the counter went back (the process restarted its
// series): never negative.
func delta(cur, prev float64) float64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// quantile estimates the q-quantile of the observations between two readings of a cumulative
// histogram, interpolating linearly inside the bucket it falls in as Prometheus's
// histogram_quantile does; ok is false when there were none.
func quantile(q float64, cur, prev []bucket) (float64, bool) {
	counts := make([]bucket, len(cur))
	for i, b := range cur {
		p := 0.0
		for _, pb := range prev {
			if pb.upper == b.upper {
				p = pb.count
			}
		}
		counts[i] = bucket{b.upper, delta(b.count, p)}
	}
	if len(counts) == 0 || counts[len(counts)-1].count == 0 {
		return 0, false
	}
	rank := q * counts[len(counts)-1].count
	lower, below := 0.0, 0.0
	for _, b := range counts {
		if b.count >= rank {
			if math.IsInf(b.upper, 1) {
				return lower, true // above the last finite bound: its bound is all we know
			}
			if b.count == below {
				return b.upper, true
			}
			return lower + (b.upper-lower)*(rank-below)/(b.count-below), true
		}
		lower, below = b.upper, b.count
	}
	return lower, true
}
