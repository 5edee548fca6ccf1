package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/httpdns/httpdns/cache"
)

const (
	// blocksPerName is the number of /22 blocks in 20.0.0.0/8: each name is cached for every one
	// of them before the next name starts.
	blocksPerName = 1 << 14
	// names is how many CDN names there are: each label under cdn-a.test .. cdn-z.test.
	names = 26 * 8
	// maxEntries bounds -entries: every name × every block.
	maxEntries = blocksPerName * names
	// waitEvery is how many Sets go to ristretto between Waits: its write buffer drops Sets
	// that arrive faster than it applies them.
	waitEvery = 1024
	// retryPasses bounds the passes over the keys that re-Set the ones found missing.
	retryPasses = 5
)

// labels are the first labels of the CDN names ("img.cdn-a.test"); names counts eight.
var labels = [8]string{"img", "video", "static", "api", "www", "dl", "media", "cdn"}

// entryFor returns the i-th typical subnet-tier entry: a CDN name, a /22 client block as the
// scope, and two IPv4 addresses fetched at now with a 300 s TTL.
func entryFor(i int, now time.Time) (cache.Key, cache.Entry) {
	n, b := i/blocksPerName, i%blocksPerName
	name := fmt.Sprintf("%s.cdn-%c.test", labels[n%len(labels)], 'a'+n/len(labels))
	block := netip.PrefixFrom(netip.AddrFrom4([4]byte{20, byte(b >> 6), byte(b&63) << 2, 0}), 22)
	k := cache.Key{Name: name, Qtype: 1, Tier: cache.TierSubnet, Scope: block.String()}
	e := cache.Entry{
		IPs: []netip.Addr{
			netip.AddrFrom4([4]byte{61, byte(n), byte(b >> 6), byte(b&63)<<2 + 1}),
			netip.AddrFrom4([4]byte{61, byte(n), byte(b >> 6), byte(b&63)<<2 + 2}),
		},
		TTL:     300,
		Fetched: now,
		Scope:   block,
	}
	return k, e
}

// filled is what fill achieved.
type filled struct {
	// requested is the number of distinct entries asked for.
	requested int
	// sets counts Set calls, retries included; retried counts the retries.
	sets, retried int
	// present counts the entries a final Peek found.
	present int
	// perTier is cache.Len of each tier after the final Wait.
	perTier map[cache.Tier]int64
}

// fill stores entries 0..n-1 in c, waiting every waitEvery Sets, then re-Sets the ones a pass of
// Peeks finds missing (dropped by ristretto's write buffer or refused by admission) until a pass
// finds none or retryPasses have run. It stops early when ctx ends.
func fill(ctx context.Context, c *cache.Cache, n int, now time.Time) filled {
	f := filled{requested: n}
	set := func(k cache.Key, e cache.Entry) {
		c.Set(k, e)
		if f.sets++; f.sets%waitEvery == 0 {
			c.Wait()
		}
	}
	for i := range n {
		set(entryFor(i, now))
	}
	c.Wait()
	for pass := 0; pass < retryPasses && ctx.Err() == nil; pass++ {
		missing := 0
		for i := range n {
			k, e := entryFor(i, now)
			if _, ok := c.Peek(k); !ok {
				set(k, e)
				missing++
			}
		}
		c.Wait()
		if f.retried += missing; missing == 0 {
			break
		}
	}
	f.present = count(c, n, now)
	f.perTier = map[cache.Tier]int64{}
	for _, t := range []cache.Tier{cache.TierSubnet, cache.TierCityISP, cache.TierGlobal} {
		f.perTier[t] = c.Len(t)
	}
	return f
}

// count returns how many of entries 0..n-1 c holds.
func count(c *cache.Cache, n int, now time.Time) int {
	held := 0
	for i := range n {
		k, _ := entryFor(i, now)
		if _, ok := c.Peek(k); ok {
			held++
		}
	}
	return held
}
