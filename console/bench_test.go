package console

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/collectors"
)

// BenchmarkTake measures one overview sample over a registry shaped like serve's: every serving
// endpoint with a few status codes and its duration histogram, the cache's tiers, three upstream
// nodes, the refresh kinds, a dozen error codes, and the Go runtime's collector.
//
//	go test -run '^$' -bench Take -benchmem ./console/
func BenchmarkTake(b *testing.B) {
	s := newSeries(b)
	s.reg.MustRegister(collectors.NewGoCollector())
	for _, ep := range []string{"d", "resolve", "dns_query", "google_json", "cloudflare_json", "alibaba_d", "alibaba_v2", "dnspod", "metrics", "admin_domains"} {
		for _, code := range []string{"200", "400", "429", "503"} {
			s.requests.WithLabelValues(ep, code).Add(100)
		}
		s.duration.WithLabelValues(ep).Observe(.001)
	}
	for _, tier := range []string{"subnet", "cityisp", "global"} {
		for _, res := range []string{"hit", "stale", "miss"} {
			s.cache.WithLabelValues(tier, res).Add(10)
		}
	}
	for i := range 3 {
		node := fmt.Sprintf("10.0.0.%d:53", i)
		s.healthy.WithLabelValues(node).Set(1)
		for _, res := range []string{"ok", "timeout", "servfail"} {
			s.upstream.WithLabelValues(node, res).Add(5)
		}
	}
	for i := range 12 {
		s.errors.WithLabelValues(fmt.Sprintf("Code%d", i)).Add(1)
	}
	r := newRing(DefaultSamples)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(DefaultInterval)
		if err := r.take(s.reg, now); err != nil {
			b.Fatal(err)
		}
	}
}
