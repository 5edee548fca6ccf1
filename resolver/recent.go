package resolver

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
)

// recent remembers the subnet-tier and active-refresh keys clients asked for lately, with a
// client of each, because ristretto cannot list its keys: active refresh walks it to refresh hot
// answers before they expire, and sibling prefetch asks it which neighbouring blocks are in use.
// It is bounded: at most max keys, and keys not asked for a few TTLs are dropped. When it is full a
// new key evicts the coldest of a sample of tracked keys (the approximate LRU Redis uses), so a
// new hot key is never refused. It is sharded by key hash: the hit path locks one shard, never the
// whole table (a bound below recentShards uses that many shards of one key each, so no shard is
// left without room).
type recent struct {
	shards [recentShards]recentShard
	n      uint64 // shards in use
	size   atomic.Int64
	evicts atomic.Int64
}

// recentShards is the number of independently locked parts of the table.
const recentShards = 64

// evictSample is how many keys an eviction compares to find a cold one.
const evictSample = 8

type recentShard struct {
	mu    sync.Mutex
	max   int
	items map[cache.Key]*recentKey
}

// recentKey is one tracked key.
type recentKey struct {
	req        request   // a client's request for the key (its client locates the part refreshed)
	asked      time.Time // last asked by a client
	asks       int       // times asked since the key was last fetched upstream
	used       int       // times answered from the cache since then
	refreshAt  float64   // share of the TTL at which active refresh fires, 0.8–0.9, fixed per key
	prefetched time.Time // last refreshed as a sibling
	by         Kind      // why the key was last fetched
	shared     bool      // the answer came from the fleet's shared cache: the node that fetched it refreshes it
}

func newRecent(max int) *recent {
	t := &recent{n: recentShards}
	if max < recentShards {
		t.n = 1
		if max > 1 {
			t.n = uint64(max)
		}
	}
	per := max / int(t.n)
	for i := range t.n {
		extra := 0
		if int(i) < max%int(t.n) {
			extra = 1
		}
		t.shards[i] = recentShard{max: per + extra, items: make(map[cache.Key]*recentKey)}
	}
	return t
}

func (t *recent) shard(key cache.Key) *recentShard {
	return &t.shards[key.Hash()%t.n]
}

// touch records that a client asked for key, answered from the cache or not; keep says req
// becomes the key's client (a new key keeps it anyway).
func (t *recent) touch(key cache.Key, req *request, now time.Time, cached, keep bool) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if it, ok := s.items[key]; ok {
		it.asked = now
		it.asks++
		if cached {
			it.used++
		}
		if keep {
			it.req = *req
		}
		return
	}
	if s.max <= 0 {
		return
	}
	if len(s.items) >= s.max {
		s.evictColdest()
		t.evicts.Add(1)
	} else {
		t.size.Add(1)
	}
	s.items[key] = &recentKey{req: *req, asked: now, asks: 1, refreshAt: 0.8 + 0.1*rand.Float64()}
}

// evictColdest drops the least recently asked of a few tracked keys (Go's map iteration starts at
// a random place). s.mu is held.
func (s *recentShard) evictColdest() {
	var cold cache.Key
	var coldAt time.Time
	n := 0
	for k, it := range s.items {
		if n == 0 || it.asked.Before(coldAt) {
			cold, coldAt = k, it.asked
		}
		if n++; n == evictSample {
			break
		}
	}
	delete(s.items, cold)
}

// fetched records that key was just fetched upstream for kind: its demand is counted afresh. It
// returns the kind of the fetch before when that was a background refresh no client asked for
// since (an unused refresh).
func (t *recent) fetched(key cache.Key, kind Kind) (unused Kind, wasted bool) {
	return t.filled(key, kind, false)
}

// adopted records that key was filled from the fleet's shared cache (l2.go), for a client's miss:
// like fetched, and marked shared until this node fetches it itself.
func (t *recent) adopted(key cache.Key) (unused Kind, wasted bool) {
	return t.filled(key, KindMiss, true)
}

// filled is fetched and adopted: key was filled for kind, from the shared cache if shared.
func (t *recent) filled(key cache.Key, kind Kind, shared bool) (unused Kind, wasted bool) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[key]
	if !ok {
		return 0, false
	}
	unused, wasted = it.by, it.unusedRefresh()
	it.asks, it.used, it.by, it.shared = 0, 0, kind, shared
	return unused, wasted
}

// shared reports whether key's answer came from the fleet's shared cache (adopted) and was not
// fetched here since.
func (t *recent) shared(key cache.Key) bool {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[key]
	return ok && it.shared
}

// get returns a copy of the tracked key, if any.
func (t *recent) get(key cache.Key) (recentKey, bool) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[key]
	if !ok {
		return recentKey{}, false
	}
	return *it, true
}

// markPrefetched records a sibling refresh of key at now, unless one happened within ttl; it
// reports whether the caller may go ahead.
func (t *recent) markPrefetched(key cache.Key, now time.Time, ttl time.Duration) bool {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[key]
	if !ok || now.Sub(it.prefetched) < ttl {
		return false
	}
	it.prefetched = now
	return true
}

// sweepItem is what a sweep needs of a tracked key; the request is fetched only for keys refreshed.
type sweepItem struct {
	key       cache.Key
	asked     time.Time
	asks      int
	refreshAt float64
	active    bool
	shared    bool
}

// snapshot lists the table for a sweep, so refreshes are started without holding the lock.
func (t *recent) snapshot(buf []sweepItem) []sweepItem {
	buf = buf[:0]
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, it := range s.items {
			buf = append(buf, sweepItem{key: k, asked: it.asked, asks: it.asks, refreshAt: it.refreshAt,
				active: it.req.rule.Refresh == RefreshActive, shared: it.shared})
		}
		s.mu.Unlock()
	}
	return buf
}

// drop forgets key if it was not asked after asked. Like fetched, it returns the kind of the last
// fetch when that was a background refresh no client asked for since.
func (t *recent) drop(key cache.Key, asked time.Time) (unused Kind, wasted bool) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[key]
	if !ok || it.asked.After(asked) {
		return 0, false
	}
	delete(s.items, key)
	t.size.Add(-1)
	return it.by, it.unusedRefresh()
}

// unusedRefresh reports whether the key's last fetch was a background refresh no client used.
func (it *recentKey) unusedRefresh() bool { return it.used == 0 && it.by != KindMiss }

// pastRefreshPoint reports whether e is at or past refreshAt (a share) of its TTL.
func pastRefreshPoint(e cache.Entry, refreshAt float64, now time.Time) bool {
	return now.Sub(e.Fetched).Seconds() >= refreshAt*float64(e.TTL)
}

// len is the number of tracked keys.
func (t *recent) len() int {
	return int(t.size.Load())
}

// siblingLocator is a Locator that also knows a block's siblings (*cidrdb.DB and *cidrdb.Live).
type siblingLocator interface {
	Siblings(loc cidrdb.Location, k int) []netip.Prefix
}
