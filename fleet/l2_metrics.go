package fleet

import (
	"errors"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of L2 reads, the values of httpdns_l2_requests_total's result label.
const (
	resultHit     = iota // the key was in Redis
	resultMiss           // it was not
	resultError          // Redis answered with an error, or could not be reached
	resultTimeout        // no answer within the L2's Timeout
	resultSkipped        // the breaker was open: Redis was not asked
	readResults
)

// Results of L2 writes, the values of httpdns_l2_writes_total's result label.
const (
	writeOK      = iota // stored
	writeError          // Redis refused or did not answer within WriteTimeout
	writeDropped        // not sent: queue full, breaker open, or closed
	writeResults
)

var (
	readNames  = [readResults]string{"hit", "miss", "error", "timeout", "skipped"}
	writeNames = [writeResults]string{"ok", "error", "dropped"}
)

// L2Metrics are an L2's Prometheus series. A node registers them whether or not it has an L2, so that
// dashboards see zeros rather than nothing.
type L2Metrics struct {
	requests    [readResults]prometheus.Counter
	writes      [writeResults]prometheus.Counter
	latency     prometheus.Histogram
	breakerOpen prometheus.Gauge
	trips       prometheus.Counter
}

// NewL2Metrics makes the series of an L2 and registers them with reg, unless reg is nil.
func NewL2Metrics(reg prometheus.Registerer) (*L2Metrics, error) {
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "httpdns_l2_requests_total",
		Help: "Reads of the shared answer cache by result (hit, miss, error, timeout, skipped while the breaker is open).",
	}, []string{"result"})
	writes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "httpdns_l2_writes_total",
		Help: "Writes to the shared answer cache by result (ok, error, dropped: queue full, breaker open or closing).",
	}, []string{"result"})
	m := &L2Metrics{
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "httpdns_l2_latency_seconds",
			Help:    "Time of one read of the shared answer cache, bounded by fleet.l2_timeout.",
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .025, .1},
		}),
		breakerOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "httpdns_l2_breaker_open",
			Help: "1 while the shared answer cache's breaker is open (Redis skipped after failures in a row), else 0.",
		}),
		trips: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "httpdns_l2_breaker_trips_total",
			Help: "Times the shared answer cache's breaker opened.",
		}),
	}
	for i, n := range readNames {
		m.requests[i] = reqs.WithLabelValues(n)
	}
	for i, n := range writeNames {
		m.writes[i] = writes.WithLabelValues(n)
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{reqs, writes, m.latency, m.breakerOpen, m.trips} {
		errs = append(errs, reg.Register(c))
	}
	return m, errors.Join(errs...)
}

// l2Counts are the counts Stats reports.
type l2Counts struct {
	reads  [readResults]atomic.Uint64
	writes [writeResults]atomic.Uint64
}

func (c *L2) count(result int) {
	c.stats.reads[result].Add(1)
	c.m.requests[result].Inc()
}

func (c *L2) countWrite(result int) {
	c.stats.writes[result].Add(1)
	c.m.writes[result].Inc()
}

// L2Stats are an L2's counts since it was made.
type L2Stats struct {
	Hits, Misses, Errors, Timeouts, Skipped uint64 // reads by result
	Written, WriteErrors, Dropped           uint64 // writes by result
	BreakerOpen                             bool
}

// Stats returns the L2's counts so far.
func (c *L2) Stats() L2Stats {
	r, w := &c.stats.reads, &c.stats.writes
	return L2Stats{
		Hits: r[resultHit].Load(), Misses: r[resultMiss].Load(), Errors: r[resultError].Load(),
		Timeouts: r[resultTimeout].Load(), Skipped: r[resultSkipped].Load(),
		Written: w[writeOK].Load(), WriteErrors: w[writeError].Load(), Dropped: w[writeDropped].Load(),
		BreakerOpen: !c.breaker.closed(),
	}
}

// Reads is how many reads were asked of the L2, whatever their result.
func (s L2Stats) Reads() uint64 { return s.Hits + s.Misses + s.Errors + s.Timeouts + s.Skipped }

// HitRatio is the share of reads the L2 answered: hits over all reads (skipped and failed ones included);
// 0 before the first read.
func (s L2Stats) HitRatio() float64 {
	if n := s.Reads(); n > 0 {
		return float64(s.Hits) / float64(n)
	}
	return 0
}
