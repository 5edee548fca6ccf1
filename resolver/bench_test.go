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
			e := newEnv(b, envOptions{whitelist: tc.whitelist})
			clients := make([]netip.Addr, 64)
			for i := range clients {
				clients[i] = e.world.ClientIn(e.world.Subnets()[i*17], 3)
				if _, err := e.r.Resolve(context.Background(), Query{Name: tc.host, Qtype: TypeA, Client: clients[i]}); err != nil {
					b.Fatal(err)
				}
			}
			e.cache.Wait()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					a, err := e.r.Resolve(ctx, Query{Name: tc.host, Qtype: TypeA, Client: clients[i%len(clients)]})
					if err != nil || a.Source != "hit" {
						b.Errorf("%v %+v", err, a)
						return
					}
					i++
				}
			})
		})
	}
}
