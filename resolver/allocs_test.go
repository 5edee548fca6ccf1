//go:build !race

package resolver

import (
	"context"
	"testing"
)

// TestResolveHitAllocs holds a cache-hit Resolve to at most 2 allocations on every tier (today it
// makes none). The race detector allocates on its own, so this runs without -race:
// go test -run ResolveHitAllocs ./resolver/
func TestResolveHitAllocs(t *testing.T) {
	for _, tc := range []struct{ name, whitelist, host string }{
		{"subnet", "img.cdn-a.test subnet\n", "img.cdn-a.test"},
		{"cityisp", "", "img.cdn-a.test"},
		{"global", "www.portal.test global\n", "www.portal.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{whitelist: tc.whitelist})
			client := e.world.ClientIn(e.world.Subnets()[17], 3)
			q := Query{Name: tc.host, Qtype: TypeA, Client: client}
			if _, err := e.r.Resolve(context.Background(), q); err != nil {
				t.Fatal(err)
			}
			e.cache.Wait()
			var a Answer
			allocs := testing.AllocsPerRun(200, func() { a, _ = e.r.Resolve(context.Background(), q) })
			if a.Source != "hit" {
				t.Fatalf("not a hit: %+v", a)
			}
			if allocs > 2 {
				t.Errorf("%v allocations per cache-hit Resolve, want at most 2", allocs)
			}
		})
	}
}
