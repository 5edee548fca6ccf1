package resolver

import (
	"net/netip"
	"sync"

	"github.com/cespare/xxhash/v2"
)

// scopeNames interns the text of cache-key scopes — a block's prefix, a city+ISP label — so a cache
// hit formats none: there are few blocks and places, and every request of one maps to the same
// string. It is bounded (a client can choose `ip=` and so make up /24s): a full shard forgets an
// arbitrary entry, which costs only a format on the next request for it.
type scopeNames struct {
	shards [scopeShards]scopeShard
}

const (
	scopeShards   = 32
	scopeShardMax = 4096
)

type scopeShard struct {
	mu       sync.Mutex
	prefixes map[netip.Prefix]string
	places   map[place]string
}

func newScopeNames() *scopeNames {
	s := &scopeNames{}
	for i := range s.shards {
		s.shards[i] = scopeShard{prefixes: make(map[netip.Prefix]string), places: make(map[place]string)}
	}
	return s
}

// prefix returns p.String(), interned.
func (s *scopeNames) prefix(p netip.Prefix) string {
	a := p.Addr().As16()
	sh := &s.shards[(xxhash.Sum64(a[:])+uint64(p.Bits()))%scopeShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if v, ok := sh.prefixes[p]; ok {
		return v
	}
	v := p.String()
	evictOne(sh.prefixes)
	sh.prefixes[p] = v
	return v
}

// place returns "country/city/isp", interned.
func (s *scopeNames) place(pl place) string {
	sh := &s.shards[(xxhash.Sum64String(pl.country)^xxhash.Sum64String(pl.city)^xxhash.Sum64String(pl.isp))%scopeShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if v, ok := sh.places[pl]; ok {
		return v
	}
	v := pl.country + "/" + pl.city + "/" + pl.isp
	evictOne(sh.places)
	sh.places[pl] = v
	return v
}

// evictOne drops an arbitrary entry of m when it is full.
func evictOne[K comparable](m map[K]string) {
	if len(m) < scopeShardMax {
		return
	}
	for k := range m {
		delete(m, k)
		return
	}
}
