package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"
)

// DialContext connects to address ("host:port") as net.Dialer does, but resolves host through
// the client and races its addresses (Happy Eyeballs, RFC 8305): IPv6 and IPv4 interleaved, IPv6
// first (§4), a new attempt every FallbackDelay or as soon as the previous one fails (§5), the
// first connection wins and the others are cancelled or closed. Addresses that failed within
// FailedAddrTTL are tried after the others. network is "tcp", "tcp4" or "tcp6".
func (c *Client) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	start := c.cfg.Now()
	host, port, err := splitAddr(ctx, network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	ans, err := c.Resolve(ctx, host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	targets := c.order4dial(network, ans.Addrs, port)
	if len(targets) == 0 {
		err := fmt.Errorf("resolving %s: %w for %s", host, ErrNoAddresses, network)
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	conn, winner, attempts, err := c.dialTargets(ctx, network, targets)
	if ans.Source != SourceLiteral {
		c.cfg.Hooks.dial(DialEvent{Host: ans.Host, Addr: winner, Source: ans.Source, Attempts: attempts,
			Took: c.cfg.Now().Sub(start), Err: err})
	}
	return conn, err
}

// splitAddr splits "host:port" of a TCP network; a port may be a service name ("https").
func splitAddr(ctx context.Context, network, address string) (string, uint16, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return "", 0, net.UnknownNetworkError(network)
	}
	host, service, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, err
	}
	if port, err := strconv.ParseUint(service, 10, 16); err == nil {
		return host, uint16(port), nil
	}
	port, err := net.DefaultResolver.LookupPort(ctx, network, service)
	return host, uint16(port), err
}

// dialTargets connects to one of targets: the only one directly (nothing to race: no goroutine,
// timer or cancellation to pay for), several by race.
func (c *Client) dialTargets(ctx context.Context, network string, targets []netip.AddrPort) (net.Conn, netip.AddrPort, int, error) {
	if len(targets) > 1 {
		return c.race(ctx, network, targets)
	}
	conn, err := c.cfg.Dialer.DialContext(ctx, network, targets[0].String())
	if err != nil {
		if ctx.Err() == nil {
			c.failed.mark(targets[0].Addr(), c.cfg.Now().Add(c.cfg.FailedAddrTTL))
		}
		return nil, netip.AddrPort{}, 1, err
	}
	c.failed.forget(targets[0].Addr())
	return conn, targets[0], 1, nil
}

// order4dial keeps the addresses of network's families and orders them for the race: addresses
// that did not fail lately before those that did, and within each, the families interleaved
// starting with IPv6 (RFC 8305 §4, First Address Family Count 1).
func (c *Client) order4dial(network string, addrs []netip.Addr, port uint16) []netip.AddrPort {
	var good, bad []netip.Addr
	now := c.cfg.Now()
	for _, a := range addrs {
		if network == "tcp4" && !a.Is4() || network == "tcp6" && !a.Is6() {
			continue
		}
		if c.failed.failing(a, now) {
			bad = append(bad, a)
		} else {
			good = append(good, a)
		}
	}
	out := make([]netip.AddrPort, 0, len(good)+len(bad))
	for _, a := range append(interleave(good), interleave(bad)...) {
		out = append(out, netip.AddrPortFrom(a, port))
	}
	return out
}

// interleave alternates IPv6 and IPv4 addresses, IPv6 first, keeping each family's order.
func interleave(addrs []netip.Addr) []netip.Addr {
	var v4, v6 []netip.Addr
	for _, a := range addrs {
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	out := make([]netip.Addr, 0, len(addrs))
	for i := 0; i < max(len(v4), len(v6)); i++ {
		if i < len(v6) {
			out = append(out, v6[i])
		}
		if i < len(v4) {
			out = append(out, v4[i])
		}
	}
	return out
}

// attempt is the outcome of one connection attempt.
type attempt struct {
	conn net.Conn
	addr netip.AddrPort
	err  error
}

// race runs the connection attempts of RFC 8305 §5: the next starts when FallbackDelay has passed
// since the last one started or when an attempt fails, whichever is first; the first to connect
// wins, the others are cancelled, and any that connect anyway are closed. Failed addresses are
// remembered, the winner's failure forgotten.
func (c *Client) race(ctx context.Context, network string, targets []netip.AddrPort) (net.Conn, netip.AddrPort, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan attempt, len(targets)) // never blocks a loser
	next, running := 0, 0
	launch := func() {
		t := targets[next]
		next++
		running++
		go func() {
			conn, err := c.cfg.Dialer.DialContext(ctx, network, t.String())
			results <- attempt{conn: conn, addr: t, err: err}
		}()
	}
	launch()
	timer := time.NewTimer(c.cfg.FallbackDelay)
	defer timer.Stop()
	var errs []error
	for {
		select {
		case r := <-results:
			running--
			if r.err == nil {
				cancel()
				c.failed.forget(r.addr.Addr())
				closeLosers(results, running)
				return r.conn, r.addr, next, nil
			}
			if ctx.Err() == nil { // a cancelled attempt says nothing about its address
				c.failed.mark(r.addr.Addr(), c.cfg.Now().Add(c.cfg.FailedAddrTTL))
			}
			errs = append(errs, r.err)
			if next < len(targets) && ctx.Err() == nil {
				launch()
				timer.Reset(c.cfg.FallbackDelay)
			} else if running == 0 {
				return nil, netip.AddrPort{}, next, &net.OpError{Op: "dial", Net: network, Err: errors.Join(errs...)}
			}
		case <-timer.C:
			if next < len(targets) {
				launch()
				timer.Reset(c.cfg.FallbackDelay)
			}
		case <-ctx.Done():
			closeLosers(results, running) // they see ctx too: none outlives the dial
			return nil, netip.AddrPort{}, next, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
		}
	}
}

// closeLosers receives the outcomes of the attempts still running, already cancelled, and closes
// any that connected before they saw it. It waits: the attempts return promptly once cancelled,
// and no goroutine is left behind the dial.
func closeLosers(results <-chan attempt, running int) {
	for ; running > 0; running-- {
		if r := <-results; r.conn != nil {
			r.conn.Close()
		}
	}
}

// failedAddrs remembers the addresses that failed to connect, until when to try them last.
type failedAddrs struct {
	mu sync.Mutex
	m  map[netip.Addr]time.Time
}

func newFailedAddrs() *failedAddrs { return &failedAddrs{m: map[netip.Addr]time.Time{}} }

func (f *failedAddrs) mark(a netip.Addr, until time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.m) >= 4096 { // bounded: forget the lot rather than grow without end
		clear(f.m)
	}
	f.m[a] = until
}

func (f *failedAddrs) forget(a netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, a)
}

func (f *failedAddrs) failing(a netip.Addr, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	until, ok := f.m[a]
	return ok && now.Before(until)
}

func (f *failedAddrs) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.m)
}

// list returns the addresses failing at now, sorted.
func (f *failedAddrs) list(now time.Time) []netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []netip.Addr
	for a, until := range f.m {
		if now.Before(until) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// Failed returns the addresses that failed to connect lately and are tried last, sorted.
func (c *Client) Failed() []netip.Addr { return c.failed.list(c.cfg.Now()) }
