package console

import (
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// series registers collectors named and labelled as the service's own (api, cache, upstream,
// resolver metrics.go), so the overview reads them as it reads the real registry.
type series struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	errors    *prometheus.CounterVec
	cache     *prometheus.CounterVec
	upstream  *prometheus.CounterVec
	healthy   *prometheus.GaugeVec
	refreshes *prometheus.CounterVec
}

func newSeries(t testing.TB) *series {
	t.Helper()
	s := &series{reg: prometheus.NewRegistry()}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: seriesHTTPRequests}, []string{"endpoint", "code"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: seriesHTTPDuration,
		Buckets: []float64{.001, .002, .005, .01, .1}}, []string{"endpoint"})
	s.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: seriesHTTPErrors}, []string{"code"})
	s.cache = prometheus.NewCounterVec(prometheus.CounterOpts{Name: seriesCache}, []string{"tier", "result"})
	s.upstream = prometheus.NewCounterVec(prometheus.CounterOpts{Name: seriesUpQueries}, []string{"node", "result"})
	s.healthy = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: seriesUpHealthy}, []string{"node"})
	s.refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: seriesRefreshes}, []string{"kind", "result"})
	s.reg.MustRegister(s.requests, s.duration, s.errors, s.cache, s.upstream, s.healthy, s.refreshes)
	return s
}

func TestRingSamples(t *testing.T) {
	t.Parallel()
	s := newSeries(t)
	r := newRing(3)
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	s.requests.WithLabelValues("d", "200").Add(5) // before the first reading: not in any sample
	if err := r.take(s.reg, t0); err != nil {
		t.Fatal(err)
	}
	if got := r.samples(); len(got) != 0 {
		t.Fatalf("one reading made %d samples, want 0", len(got))
	}
	// Ten seconds of traffic: 200 /d requests, 110 fast and 90 slow; 10 admin and metrics requests
	// that the serving rate leaves out.
	s.requests.WithLabelValues("d", "200").Add(200)
	s.requests.WithLabelValues("admin_domains", "200").Add(5)
	s.requests.WithLabelValues("metrics", "200").Add(5)
	for i := range 200 {
		v := 0.0015 // the (.001, .002] bucket
		if i >= 110 {
			v = 0.007 // the (.005, .01] bucket
		}
		s.duration.WithLabelValues("d").Observe(v)
	}
	s.duration.WithLabelValues("metrics").Observe(5) // an operator's slow scrape is not a client's latency
	s.cache.WithLabelValues("subnet", "hit").Add(60)
	s.cache.WithLabelValues("subnet", "stale").Add(15)
	s.cache.WithLabelValues("subnet", "miss").Add(25)
	s.cache.WithLabelValues("global", "hit").Add(10)
	s.upstream.WithLabelValues("10.0.0.1:53", "ok").Add(20)
	s.upstream.WithLabelValues("10.0.0.1:53", "timeout").Add(10)
	s.healthy.WithLabelValues("10.0.0.1:53").Set(1)
	s.healthy.WithLabelValues("10.0.0.2:53").Set(0)
	s.refreshes.WithLabelValues("passive", "ok").Add(7)
	s.refreshes.WithLabelValues("passive", "skipped").Add(100) // never went upstream
	s.errors.WithLabelValues("InvalidHost").Add(4)
	if err := r.take(s.reg, t0.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	got := r.samples()
	if len(got) != 1 {
		t.Fatalf("%d samples, want 1", len(got))
	}
	sm := got[0]
	near := func(name string, got *float64, want, tol float64) {
		t.Helper()
		if got == nil || math.Abs(*got-want) > tol {
			t.Errorf("%s = %v, want %v±%v", name, deref(got), want, tol)
		}
	}
	near("rps", &sm.RPS, 20, 1e-9)
	near("subnet hit ratio", sm.HitRatio["subnet"], 0.75, 1e-9)
	near("global hit ratio", sm.HitRatio["global"], 1, 1e-9)
	if sm.HitRatio["cityisp"] != nil {
		t.Errorf("cityisp had no lookups: ratio %v, want null", *sm.HitRatio["cityisp"])
	}
	near("p50", sm.P50, 1.0+1.0*100/110, 1e-6)             // rank 100 of 200: inside (1, 2] ms, which holds 110
	near("p99", sm.P99, 5.0+5.0*(198-110)/90, 1e-6)        // rank 198: inside (5, 10] ms, which holds 90
	near("miss fetches", ptr(sm.Kinds["miss"]), 2.5, 1e-9) // 25 misses in 10 s
	near("passive", ptr(sm.Kinds["passive"]), 0.7, 1e-9)   // skipped ones did not go
	near("InvalidHost", ptr(sm.Errors["InvalidHost"]), 0.4, 1e-9)
	if len(sm.Nodes) != 2 || sm.Nodes[0].QPS != 3 || sm.Nodes[0].Errors != 1 || !sm.Nodes[0].Healthy || sm.Nodes[1].Healthy {
		t.Errorf("nodes %+v", sm.Nodes)
	}
	if sm.Accuracy != nil {
		t.Errorf("accuracy %+v without the series, want nil", sm.Accuracy)
	}

	// The accuracy series appears: its rate is read; the ring keeps only its last 3 samples.
	acc := prometheus.NewCounterVec(prometheus.CounterOpts{Name: seriesAccuracy}, []string{"tier", "result"})
	s.reg.MustRegister(acc)
	acc.WithLabelValues("subnet", "match").Add(98)
	acc.WithLabelValues("cityisp", "mismatch").Add(2)
	acc.WithLabelValues("cityisp", "unknown").Add(50)
	for i := 2; i <= 4; i++ {
		if err := r.take(s.reg, t0.Add(time.Duration(i)*10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	got = r.samples()
	if len(got) != 3 || !got[0].Time.Equal(t0.Add(20*time.Second)) || !got[2].Time.Equal(t0.Add(40*time.Second)) {
		t.Fatalf("ring holds %d samples from %v", len(got), got[0].Time)
	}
	a := got[0].Accuracy
	if a == nil || a.TotalChecks != 100 || a.TotalMismatches != 2 {
		t.Fatalf("accuracy %+v", a)
	}
	near("mismatch ratio", a.Mismatch, 0.02, 1e-9)
	if got[0].RPS != 0 || got[0].P50 != nil || got[2].Accuracy.Mismatch != nil {
		t.Errorf("an idle interval: rps %v p50 %v mismatch %v", got[0].RPS, got[0].P50, got[2].Accuracy.Mismatch)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestQuantileEdges(t *testing.T) {
	t.Parallel()
	cur := []bucket{{.001, 0}, {.01, 10}, {math.Inf(1), 20}}
	if v, ok := quantile(.99, cur, nil); !ok || v != .01 {
		t.Errorf("beyond the last bound: %v %v, want its bound .01", v, ok)
	}
	if _, ok := quantile(.5, cur, cur); ok {
		t.Error("no observations between two equal readings, yet a quantile")
	}
	// A counter that went back (a restarted series) counts from zero, never negative.
	if v, ok := quantile(.5, cur, []bucket{{.001, 5}, {.01, 50}, {math.Inf(1), 60}}); !ok || v <= .001 || v > .01+1e-12 {
		t.Errorf("after a reset: %v %v", v, ok)
	}
}
