package client

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"time"
)

// The answers of an HTTPDNS server depend on the client's address (the edge is chosen for its
// subnet), so an answer learnt on one network is wrong on the next: after a Wi-Fi to cellular
// switch the cached edges are the Wi-Fi ISP's. Apps are told of the change by the platform and
// call NetworkChanged; without that, the client notices when a server reports another client_ip.

// NetworkChanged tells the client its network changed: it drops every cached answer, forgets the
// reported client address, the failed addresses and the servers' penalties, closes the idle
// connections of its transports (they lead to the old network's edges) and resolves the names
// given to PreResolve again in the background. Answers being fetched when it is called are
// returned to their callers but not cached.
func (c *Client) NetworkChanged() {
	c.clientIP.Store(nil)
	c.seen4.Store(nil)
	c.seen6.Store(nil)
	c.changed("called")
}

// noteClientIP remembers the address a server answered for and reports whether it left the
// subnet of the one of its family before: then the network changed, and changed has run. The subnet is the
// /24 (IPv6: /56) the server sends upstream as the client's (docs/design.md §6.1), so answers
// cannot differ within it; a carrier-grade NAT that shows one device under several addresses of
// its pool does not empty the cache at every request.
func (c *Client) noteClientIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	c.clientIP.Store(&ip)
	seen := &c.seen4
	if ip.Is6() {
		seen = &c.seen6
	}
	for {
		old := seen.Load()
		if old != nil && *old == ip {
			return false
		}
		if seen.CompareAndSwap(old, &ip) {
			if old == nil || sameSubnet(*old, ip) || !c.mayMove() {
				return false
			}
			c.changed("client_ip")
			return true
		}
	}
}

// minMoveInterval is the least time between two network changes inferred from the reported
// client address. A server whose answers alternate between subnets (a broken one, or a fleet
// behind proxies it does not trust, each reporting its own address) would otherwise empty the
// cache at every other answer and re-resolve the pre-resolved names each time: nothing would stay
// cached, and every lookup would cost requests. NetworkChanged is never held back.
const minMoveInterval = 10 * time.Second

// mayMove reports whether a reported address may count as a network change now, and if so
// records it.
func (c *Client) mayMove() bool {
	now := c.cfg.Now().UnixNano()
	last := c.moved.Load()
	if last != 0 && now-last < int64(minMoveInterval) {
		return false
	}
	return c.moved.CompareAndSwap(last, now)
}

// sameSubnet reports whether a and b share their /24 (IPv6: /56), the ECS source prefix.
func sameSubnet(a, b netip.Addr) bool {
	bits := 24
	if a.Is6() {
		bits = 56
	}
	pa, _ := a.Prefix(bits)
	pb, _ := b.Prefix(bits)
	return pa == pb
}

// changed drops what depended on the old network and re-resolves the pre-resolved names.
func (c *Client) changed(reason string) {
	c.cache.clear()
	c.failed.clear()
	for _, s := range c.servers {
		s.badUntil.Store(0)
	}
	c.mu.Lock()
	transports := slices.Clone(c.transports)
	names := slices.Sorted(maps.Keys(c.preresolve))
	c.mu.Unlock()
	for _, t := range transports {
		t.CloseIdleConnections()
	}
	c.cfg.Hooks.networkChange(reason)
	if len(names) == 0 {
		return
	}
	c.goBackground(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, c.cfg.RefreshTimeout)
		defer cancel()
		_, _ = c.LookupBatch(ctx, names)
	})
}
