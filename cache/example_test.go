package cache_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/httpdns/httpdns/cache"
)

// Example follows one subnet-tier answer through its life: fresh, stale
// (serve, then refresh), kept for serve-stale, gone.
func Example() {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	c, err := cache.New(cache.Config{
		MaxBytes:     1 << 20,
		StaleWindow:  time.Hour,
		RefreshGrace: 30 * time.Second,
		Now:          func() time.Time { return now },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	k := cache.Key{Name: "api.example.com", Qtype: 1, Tier: cache.TierSubnet, Scope: "1.2.0.0/20"}
	c.Set(k, cache.Entry{
		IPs:     []netip.Addr{netip.MustParseAddr("192.0.2.7")},
		TTL:     60,
		Fetched: now,
		Scope:   netip.MustParsePrefix("1.2.0.0/20"),
	})
	c.Wait() // ristretto applies writes asynchronously

	for _, step := range []time.Duration{0, 45 * time.Second, 30 * time.Second, 10 * time.Minute, time.Hour} {
		now = now.Add(step)
		e, res, ok := c.Get(k)
		fmt.Printf("+%-7v %-5v entry=%-5v ttl=%d\n", step, res, ok, e.Remaining(now))
	}
	fmt.Println("subnet entries:", c.Len(cache.TierSubnet))
	// Output:
	// +0s      hit   entry=true  ttl=60
	// +45s     hit   entry=true  ttl=15
	// +30s     stale entry=true  ttl=0
	// +10m0s   miss  entry=true  ttl=0
	// +1h0m0s  miss  entry=false ttl=0
	// subnet entries: 1
}
