package resolver

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/httpdns/httpdns/cache"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

func TestExplain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{whitelist: "*.cdn-a.test subnet\nwww.portal.test global\n"})
	ctx := context.Background()
	client := e.clientOf(t, 3, 7)
	name := "img.cdn-a.test"

	t.Run("nothing cached: the fresh answer is the truth and nothing is stored or counted", func(t *testing.T) {
		x, err := e.r.Explain(ctx, Query{Name: "IMG.cdn-a.test.", Qtype: TypeA, Client: client})
		if err != nil {
			t.Fatal(err)
		}
		if x.Name != name || x.Rule.Tier != cache.TierSubnet || x.Rule.Pattern != "*.cdn-a.test" {
			t.Errorf("name %q rule %+v", x.Name, x.Rule)
		}
		if !x.Location.Block.IsValid() || x.Location.City == "" || x.Key.Tier != cache.TierSubnet || x.Key.Scope != x.Location.Block.String() {
			t.Errorf("location %+v key %+v", x.Location, x.Key)
		}
		if want := e.world.Truth(name, dns.TypeA, client); x.FreshErr != nil || !slices.Equal(x.Fresh.IPs, want) {
			t.Errorf("fresh %+v (%v), truth %v", x.Fresh, x.FreshErr, want)
		}
		if x.Cached.Found {
			t.Errorf("cached %+v before any request", x.Cached)
		}
		e.cache.Wait()
		if n := cacheRequests(t, e.reg); n != 0 {
			t.Errorf("Explain counted %v cache requests", n)
		}
		if a := resolve(t, e, name, TypeA, client); a.Source != "miss" {
			t.Errorf("after Explain the answer was %q: Explain stored its fresh answer", a.Source)
		}
		if q := e.queries(name); q != 2 {
			t.Errorf("%d upstream queries, want 2 (Explain's and the miss's)", q)
		}
	})
	t.Run("cached: the entry the client reads", func(t *testing.T) {
		a := resolve(t, e, name, TypeA, client)
		x, err := e.r.Explain(ctx, Query{Name: name, Qtype: TypeA, Client: client})
		if err != nil {
			t.Fatal(err)
		}
		c := x.Cached
		if !c.Found || c.Result != cache.Hit || !slices.Equal(c.IPs, a.IPs) || c.Remaining == 0 || x.Key.Scope != a.Scope {
			t.Errorf("cached %+v key %+v, answer %+v", c, x.Key, a)
		}
	})
	t.Run("global: not located, no ECS", func(t *testing.T) {
		x, err := e.r.Explain(ctx, Query{Name: "www.portal.test", Qtype: TypeA, Client: client})
		if err != nil {
			t.Fatal(err)
		}
		if x.Key.Tier != cache.TierGlobal || x.Key.Scope != "" || x.Source.IsValid() || x.Location.Block.IsValid() || len(x.Fresh.IPs) == 0 {
			t.Errorf("global: %+v", x)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		if _, err := e.r.Explain(ctx, Query{Name: "bad..name", Qtype: TypeA, Client: client}); !errors.Is(err, ErrInvalidName) {
			t.Errorf("bad name: %v", err)
		}
		if _, err := e.r.Explain(ctx, Query{Name: name, Qtype: 15, Client: client}); !errors.Is(err, ErrInvalidType) {
			t.Errorf("MX: %v", err)
		}
	})
}

// cacheRequests sums httpdns_cache_requests_total in reg over every tier and result.
func cacheRequests(t *testing.T, reg prometheus.Gatherer) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "httpdns_cache_requests_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}
