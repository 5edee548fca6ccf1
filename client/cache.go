package client

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// entry is one name's cached answer. Its fields do not change once it is stored; a refresh stores
// a new entry.
type entry struct {
	host    string
	addrs   []netip.Addr // shared by every reader: never modified
	expires time.Time
	from    Source // Server or LocalDNS
	// refreshing is set while a background refresh of this entry runs, so an expired entry read by
	// many lookups starts one refresh, not one each.
	refreshing atomic.Bool
}

// cache holds the answers by canonical name. A network change empties it and moves it to a new
// generation; an answer fetched under an older generation is not stored, since it was given for
// the old network's address.
type cache struct {
	mu  sync.RWMutex
	m   map[string]*entry
	max int
	gen uint64
}

func newCache(max int) *cache {
	return &cache{m: make(map[string]*entry), max: max}
}

// get returns host's entry, or nil.
func (c *cache) get(host string) *entry {
	c.mu.RLock()
	e := c.m[host]
	c.mu.RUnlock()
	return e
}

// generation returns the current generation, to be passed to put with what is fetched now.
func (c *cache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put stores e unless the cache moved past gen since the fetch began. When full, the entry that
// expires first makes room (a scan: the cache is small, and it runs only when a new name arrives).
func (c *cache) put(e *entry, gen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return false
	}
	if _, ok := c.m[e.host]; !ok && len(c.m) >= c.max {
		var oldest *entry
		for _, o := range c.m {
			if oldest == nil || o.expires.Before(oldest.expires) {
				oldest = o
			}
		}
		delete(c.m, oldest.host)
	}
	c.m[e.host] = e
	return true
}

// clear drops every entry and starts a new generation.
func (c *cache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = make(map[string]*entry)
	c.gen++
}

// entries returns the cached entries, in no order.
func (c *cache) entries() []*entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*entry, 0, len(c.m))
	for _, e := range c.m {
		out = append(out, e)
	}
	return out
}
