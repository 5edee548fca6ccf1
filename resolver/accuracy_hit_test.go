//go:build !race

package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/httpdns/httpdns/cache"
)

// withChecks turns the accuracy checks on for a harness resolver before its first request.
func withChecks(e *env, cfg AccuracyConfig) {
	cfg.MaxPerSecond = max(cfg.MaxPerSecond, DefaultAccuracyPerSecond)
	e.r.acc = newAccuracy(cfg, newAccuracyMetrics(nil), e.clock.Now)
}

// TestResolveHitAllocsChecked holds a cache hit to no allocation with accuracy checks on at the
// service's default of 1 in 1000: only a sampled request copies what its check needs. Without
// -race: go test -run ResolveHitAllocs ./resolver/
func TestResolveHitAllocsChecked(t *testing.T) {
	e := newEnv(t, envOptions{whitelist: "img.cdn-a.test subnet\n"})
	withChecks(e, AccuracyConfig{Sample: 1000})
	q := Query{Name: "img.cdn-a.test", Qtype: TypeA, Client: e.world.ClientIn(e.world.Subnets()[17], 3)}
	if _, err := e.r.Resolve(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	e.settle()
	var a Answer
	if allocs := testing.AllocsPerRun(5000, func() { a, _ = e.r.Resolve(context.Background(), q) }); allocs != 0 {
		t.Errorf("%v allocations per cache-hit Resolve with checks on, want 0", allocs)
	}
	if a.Source != "hit" {
		t.Fatalf("not a hit: %+v", a)
	}
	e.r.wg.Wait()
	rep := e.r.Accuracy()
	var sampled uint64
	for _, n := range rep.Counts["subnet"] {
		sampled += n
	}
	for _, n := range rep.Skipped {
		sampled += n
	}
	if sampled == 0 || sampled > 30 {
		t.Errorf("%d of 5000 hits sampled at 1 in 1000", sampled)
	}
}

// BenchmarkResolveHitChecked is BenchmarkResolveHit's subnet case with accuracy checks off and on at
// the service's defaults (1 in 1000, at most 20 a second), side by side:
//
//	go test -run='^$' -bench=ResolveHitChecked -benchmem -count=5 ./resolver/
func BenchmarkResolveHitChecked(b *testing.B) {
	for _, sample := range []int{0, 1000} {
		b.Run(fmt.Sprintf("sample=%d", sample), func(b *testing.B) {
			e := newEnv(b, envOptions{whitelist: "img.cdn-a.test subnet\n"})
			if sample > 0 {
				withChecks(e, AccuracyConfig{Sample: sample})
			}
			benchHits(b, e, "img.cdn-a.test")
		})
	}
}

// BenchmarkSampleCheck is the checks' whole cost on a hit at the default 1 in 1000 (one random draw;
// the sampled one in a thousand also meets the rate cap): what BenchmarkResolveHitChecked's
// difference is too noisy to show on a shared machine.
//
//	go test -run='^$' -bench=SampleCheck -benchmem ./resolver/
func BenchmarkSampleCheck(b *testing.B) {
	e := newEnv(b, envOptions{whitelist: "img.cdn-a.test subnet\n"})
	withChecks(e, AccuracyConfig{Sample: 1000})
	req := e.r.classify("img.cdn-a.test", TypeA, e.world.ClientIn(e.world.Subnets()[17], 3))
	key := req.tierKey()
	entry := cache.Entry{IPs: []netip.Addr{netip.MustParseAddr("61.0.36.1")}, TTL: 300}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := req
		for pb.Next() {
			e.r.sampleCheck(&req, key, &entry, "hit")
		}
	})
}
