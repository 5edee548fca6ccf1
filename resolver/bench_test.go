package resolver

import (
	"context"
	"net/netip"
	"testing"
)

// BenchmarkResolveHit measures a cache hit through the whole pipeline: name check, policy,
// locate (two mmdb lookups), key, cache get. Run with:
//
//	go test -run='^$' -bench=ResolveHit -benchmem ./resolver/
func BenchmarkResolveHit(b *testing.B) {
	for _, tc := range []struct{ name, whitelist, host string }{
		{"subnet", "img.cdn-a.test subnet\n", "img.cdn-a.test"},
		{"cityisp", "", "img.cdn-a.test"},
		{"global", "www.portal.test global\n", "www.portal.test"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			benchHits(b, newEnv(b, envOptions{whitelist: tc.whitelist}), tc.host)
		})
	}
}

// benchHits warms e's cache with host for 64 clients of distinct /24s, waits for the cache and any
// background work, then measures parallel cache-hit Resolves over those clients; any answer that
// is not a hit fails the benchmark.
func benchHits(b *testing.B, e *env, host string) {
	b.Helper()
	clients := make([]netip.Addr, 64)
	for i := range clients {
		clients[i] = e.world.ClientIn(e.world.Subnets()[i*17], 3)
		if _, err := e.r.Resolve(context.Background(), Query{Name: host, Qtype: TypeA, Client: clients[i]}); err != nil {
			b.Fatal(err)
		}
	}
	e.settle()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			a, err := e.r.Resolve(ctx, Query{Name: host, Qtype: TypeA, Client: clients[i%len(clients)]})
			if err != nil || a.Source != "hit" {
				b.Errorf("%v %+v", err, a)
				return
			}
			i++
		}
	})
}
