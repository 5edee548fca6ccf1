package console

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sample is the service over one sampling interval, as rates and ratios; what the overview charts.
// A ratio or a latency is nil when nothing happened in the interval to measure it by.
type Sample struct {
	// Time is when the interval ended; Seconds how long it was.
	Time    time.Time `json:"time"`
	Seconds float64   `json:"seconds"`
	// RPS is the HTTP requests a second on the serving endpoints (every door; not admin, console,
	// metrics or health checks).
	RPS float64 `json:"rps"`
	// HitRatio is, by tier, the share of cache lookups answered from the cache (hit or stale).
	HitRatio map[string]*float64 `json:"hit_ratio"`
	// P50 and P99 are the serving endpoints' latency quantiles in milliseconds, estimated from the
	// request duration histogram.
	P50 *float64 `json:"p50_ms"`
	P99 *float64 `json:"p99_ms"`
	// Nodes are the upstream nodes: attempts a second, failed attempts a second, health and latency.
	Nodes []NodeSample `json:"nodes"`
	// Kinds are the upstream fetches a second by why they went: "miss" (cache lookups that missed,
	// one fetch per key at a time), and the background refreshes "active", "passive", "prefetch".
	Kinds map[string]float64 `json:"kinds"`
	// Errors are the error answers a second by error code.
	Errors map[string]float64 `json:"errors"`
	// Accuracy is the shadow accuracy checks over the interval; nil while the series does not exist.
	Accuracy *AccuracySample `json:"accuracy"`
}

// NodeSample is one upstream node over an interval.
type NodeSample struct {
	Node    string  `json:"node"`
	QPS     float64 `json:"qps"`
	Errors  float64 `json:"errors_per_s"`
	Healthy bool    `json:"healthy"`
	EWMAms  float64 `json:"latency_ewma_ms"`
}

// AccuracySample is the accuracy checks of an interval and since start.
type AccuracySample struct {
	// Checks is the checks a second with a verdict (match or mismatch).
	Checks float64 `json:"checks_per_s"`
	// Mismatch is the share of those checks that found the served answer wrong; nil without checks.
	Mismatch *float64 `json:"mismatch_ratio"`
	// TotalChecks and TotalMismatches count since the process started.
	TotalChecks     float64 `json:"total_checks"`
	TotalMismatches float64 `json:"total_mismatches"`
}

// ring keeps the last samples, oldest overwritten first.
type ring struct {
	mu      sync.Mutex
	buf     []Sample
	next    int
	full    bool
	last    reading
	lastAt  time.Time
	started bool
}

func newRing(n int) *ring { return &ring{buf: make([]Sample, n)} }

// samples returns the samples held, oldest first.
func (r *ring) samples() []Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]Sample(nil), r.buf[:r.next]...)
	}
	return append(append([]Sample(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}

// take reads the registry at now and, from the second reading on, adds the interval's sample.
func (r *ring) take(g prometheus.Gatherer, now time.Time) error {
	mfs, err := g.Gather()
	if err != nil && len(mfs) == 0 {
		return err
	}
	cur := read(mfs)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		r.buf[r.next] = sampleOf(cur, r.last, now, now.Sub(r.lastAt).Seconds())
		r.next = (r.next + 1) % len(r.buf)
		r.full = r.full || r.next == 0
	}
	r.last, r.lastAt, r.started = cur, now, true
	return err
}

// run takes a sample every interval until ctx ends.
func (r *ring) run(ctx context.Context, g prometheus.Gatherer, interval time.Duration, now func() time.Time, fail func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	if err := r.take(g, now()); err != nil {
		fail(err)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.take(g, now()); err != nil {
				fail(err)
			}
		}
	}
}

// sampleOf turns two readings secs apart into rates and ratios.
func sampleOf(cur, prev reading, at time.Time, secs float64) Sample {
	if secs <= 0 {
		secs = 1
	}
	rate := func(c, p float64) float64 { return delta(c, p) / secs }
	s := Sample{Time: at.UTC(), Seconds: secs, RPS: rate(cur.requests, prev.requests),
		HitRatio: map[string]*float64{}, Kinds: map[string]float64{}, Errors: map[string]float64{}}
	for _, tier := range []string{"subnet", "cityisp", "global"} {
		var hit, all float64
		for _, res := range []string{"hit", "stale", "miss"} {
			k := [2]string{tier, res}
			d := delta(cur.cache[k], prev.cache[k])
			all += d
			if res != "miss" {
				hit += d
			}
		}
		if all > 0 {
			s.HitRatio[tier] = ptr(hit / all)
		} else {
			s.HitRatio[tier] = nil
		}
		k := [2]string{tier, "miss"}
		s.Kinds["miss"] += rate(cur.cache[k], prev.cache[k])
	}
	for kind, v := range cur.refreshes {
		s.Kinds[kind] = rate(v, prev.refreshes[kind])
	}
	if v, ok := quantile(0.5, cur.buckets, prev.buckets); ok {
		s.P50 = ptr(v * 1000)
	}
	if v, ok := quantile(0.99, cur.buckets, prev.buckets); ok {
		s.P99 = ptr(v * 1000)
	}
	for code, v := range cur.errors {
		if d := rate(v, prev.errors[code]); d > 0 {
			s.Errors[code] = d
		}
	}
	s.Nodes = nodesOf(cur, prev, rate)
	s.Accuracy = accuracyOf(cur, prev, rate)
	return s
}

// nodesOf is each upstream node's share of a sample, by node address.
func nodesOf(cur, prev reading, rate func(c, p float64) float64) []NodeSample {
	byNode := map[string]*NodeSample{}
	get := func(n string) *NodeSample {
		if byNode[n] == nil {
			byNode[n] = &NodeSample{Node: n}
		}
		return byNode[n]
	}
	for k, v := range cur.upstream {
		ns := get(k[0])
		d := rate(v, prev.upstream[k])
		ns.QPS += d
		if k[1] != "ok" {
			ns.Errors += d
		}
	}
	for n, v := range cur.healthy {
		get(n).Healthy = v == 1
	}
	for n, v := range cur.ewma {
		get(n).EWMAms = v * 1000
	}
	out := make([]NodeSample, 0, len(byNode))
	for _, ns := range byNode {
		out = append(out, *ns)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// accuracyOf is the accuracy checks' share of a sample; nil while the series does not exist.
func accuracyOf(cur, prev reading, rate func(c, p float64) float64) *AccuracySample {
	if cur.accuracy == nil {
		return nil
	}
	a := &AccuracySample{}
	var match, mismatch float64
	for k, v := range cur.accuracy {
		d := delta(v, prev.accuracy[k])
		switch k[1] {
		case "match":
			match += d
			a.TotalChecks += v
		case "mismatch":
			mismatch += d
			a.TotalChecks += v
			a.TotalMismatches += v
		}
	}
	a.Checks = rate(match+mismatch, 0)
	if match+mismatch > 0 {
		a.Mismatch = ptr(mismatch / (match + mismatch))
	}
	return a
}

func ptr[T any](v T) *T { return &v }
