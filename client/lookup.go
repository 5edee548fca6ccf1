package client

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Source says where an answer came from.
type Source int

// The sources of an answer.
const (
	// SourceNone: no answer (the lookup failed).
	SourceNone Source = iota
	// SourceCache: a cached answer within its TTL. A server's answer of no address is cached
	// too: the lookup fails with ErrNoAddresses from the cache until it expires.
	SourceCache
	// SourceStale: a cached answer past its TTL (within MaxStale), returned at once while a
	// background refresh asks again.
	SourceStale
	// SourceServer: an HTTPDNS server answered just now.
	SourceServer
	// SourceLocalDNS: the local resolver answered, because no server did (they failed or one
	// refused) or a server had no address for the name.
	SourceLocalDNS
	// SourceLiteral: the host was an IP address; nothing was resolved.
	SourceLiteral
)

// String returns the source's name: none, literal, cache, stale, server or localdns.
func (s Source) String() string {
	switch s {
	case SourceNone:
		return "none"
	case SourceLiteral:
		return "literal"
	case SourceCache:
		return "cache"
	case SourceStale:
		return "stale"
	case SourceServer:
		return "server"
	case SourceLocalDNS:
		return "localdns"
	}
	return fmt.Sprintf("Source(%d)", int(s))
}

// Answer is a name's addresses and where they came from.
type Answer struct {
	Host  string       // the name asked, canonical: lower case, no trailing dot
	Addrs []netip.Addr // in the server's order; the caller may keep and modify them
	// Source is where the addresses came from; a cached answer keeps the source it was fetched
	// from in From.
	Source Source
	From   Source        // SourceServer or SourceLocalDNS: who gave the addresses
	TTL    time.Duration // time left to expiry; negative for a stale answer
	Err    error         // the lookup's error (Resolve returns it too)
}

// Lookup returns host's addresses: from the cache, stale from the cache while refreshing, or
// from the servers, falling back to the local resolver. See Resolve.
func (c *Client) Lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	a, err := c.Resolve(ctx, host)
	return a.Addrs, err
}

// Resolve is Lookup that also says where the answer came from. A fresh cached answer is returned
// at once; an expired one within MaxStale too, with a background refresh; otherwise one request
// per name is in flight however many callers wait for it (they share its answer), and the caller
// waits at most until ctx is done. A name the servers fail or have no address for is asked of the
// local resolver, unless DisableLocalDNS.
func (c *Client) Resolve(ctx context.Context, host string) (Answer, error) {
	h := canonical(host)
	if ip, ok := literal(h); ok {
		return Answer{Host: h, Addrs: []netip.Addr{ip.Unmap()}, Source: SourceLiteral}, nil
	}
	if !validHost(h) {
		return Answer{Host: h}, fmt.Errorf("resolving %q: %w", host, ErrInvalidHost)
	}
	if c.ctx.Err() != nil {
		return Answer{Host: h}, ErrClosed
	}
	if a, ok := c.cached(h); ok {
		return a, a.Err
	}
	a := c.fetch(ctx, h)
	c.cfg.Hooks.lookup(h, a.Source, a.Err)
	return a, a.Err
}

// cached answers host from the cache if it can: fresh, or stale with a background refresh.
func (c *Client) cached(h string) (Answer, bool) {
	e := c.cache.get(h)
	if e == nil {
		return Answer{}, false
	}
	left := e.expires.Sub(c.cfg.Now())
	var src Source
	switch {
	case left > 0:
		src = SourceCache
	case c.cfg.MaxStale > 0 && -left <= c.cfg.MaxStale && len(e.addrs) > 0:
		src = SourceStale
		c.refresh(e)
	default:
		return Answer{}, false
	}
	a := e.answer(src, left)
	a.Addrs = slices.Clone(a.Addrs)
	c.cfg.Hooks.lookup(h, src, a.Err)
	return a, true
}

// answer is e's answer as src with left to live; its Addrs are e's own, not to be modified. An
// entry of no address is the error ErrNoAddresses.
func (e *entry) answer(src Source, left time.Duration) Answer {
	a := Answer{Host: e.host, Addrs: e.addrs, Source: src, From: e.from, TTL: left}
	if len(e.addrs) == 0 {
		a.Err = fmt.Errorf("resolving %s: %w", e.host, ErrNoAddresses)
	}
	return a
}

// refresh asks again for e's name in the background, once however many lookups read it.
func (c *Client) refresh(e *entry) {
	if !e.refreshing.CompareAndSwap(false, true) {
		return
	}
	c.goBackground(func(ctx context.Context) {
		defer e.refreshing.Store(false)
		ctx, cancel := context.WithTimeout(ctx, c.cfg.RefreshTimeout)
		defer cancel()
		_, _, _ = c.flight.Do(e.host, func() (any, error) {
			// A server's answer going stale is kept while the servers fail (RFC 8767): the
			// local resolver is for names the servers cannot answer, not a fresher source.
			return c.resolveHosts(ctx, []string{e.host}, e.from == SourceServer)[0], nil
		})
	})
}

// fetch resolves h now, sharing one request with every concurrent fetch of h. The request runs
// on the client's context with RefreshTimeout, not the caller's, so a caller that gives up does
// not fail the others; the caller waits until ctx is done. Each caller waits for the shared
// request on a goroutine of the client's, so Close waits for them all.
func (c *Client) fetch(ctx context.Context, h string) Answer {
	ch := make(chan Answer, 1)
	ok := c.goBackground(func(bg context.Context) {
		v, _, _ := c.flight.Do(h, func() (any, error) {
			// A caller that missed just before the last request for h stored its answer finds
			// it here instead of asking again.
			if e := c.cache.get(h); e != nil && c.cfg.Now().Before(e.expires) {
				return e.answer(SourceCache, e.expires.Sub(c.cfg.Now())), nil
			}
			bg, cancel := context.WithTimeout(bg, c.cfg.RefreshTimeout)
			defer cancel()
			return c.resolveHosts(bg, []string{h}, false)[0], nil
		})
		ch <- v.(Answer)
	})
	if !ok {
		return Answer{Host: h, Err: ErrClosed}
	}
	select {
	case a := <-ch:
		a.Addrs = slices.Clone(a.Addrs)
		return a
	case <-ctx.Done():
		return Answer{Host: h, Err: fmt.Errorf("resolving %s: %w", h, ctx.Err())}
	}
}

// LookupBatch resolves hosts, asking the servers about the names not cached in batches of the
// server's limit. Each answer carries its own Err; the error is non-nil only if every name failed.
// A batch does not join a single lookup of one of its names in flight: it asks for it again.
func (c *Client) LookupBatch(ctx context.Context, hosts []string) ([]Answer, error) {
	out := make([]Answer, len(hosts))
	var miss []string
	missAt := make([]int, len(hosts)) // out[i] is answered by miss[missAt[i]-1]; 0: answered
	for i, host := range hosts {
		h := canonical(host)
		switch ip, ok := literal(h); {
		case ok:
			out[i] = Answer{Host: h, Addrs: []netip.Addr{ip.Unmap()}, Source: SourceLiteral}
		case !validHost(h):
			out[i] = Answer{Host: h, Err: fmt.Errorf("resolving %q: %w", host, ErrInvalidHost)}
		case c.ctx.Err() != nil:
			out[i] = Answer{Host: h, Err: ErrClosed}
		default:
			var ok bool
			if out[i], ok = c.cached(h); ok {
				continue
			}
			j := slices.Index(miss, h)
			if j < 0 {
				j, miss = len(miss), append(miss, h)
			}
			missAt[i] = j + 1
		}
	}
	if len(miss) > 0 {
		got := c.resolveHosts(ctx, miss, false)
		for i, j := range missAt {
			if j > 0 {
				out[i] = got[j-1]
				out[i].Addrs = slices.Clone(out[i].Addrs)
				c.cfg.Hooks.lookup(out[i].Host, out[i].Source, out[i].Err)
			}
		}
	}
	var errs []error
	for _, a := range out {
		if a.Err == nil {
			return out, nil
		}
		errs = append(errs, a.Err)
	}
	return out, errors.Join(errs...)
}

// PreResolve resolves hosts ahead of use, in batches of the server's limit, and remembers them so
// that a network change resolves them again. Names already cached fresh are not asked again. It
// returns the names' errors joined.
func (c *Client) PreResolve(ctx context.Context, hosts ...string) error {
	c.mu.Lock()
	for _, h := range hosts {
		c.preresolve[canonical(h)] = struct{}{}
	}
	c.mu.Unlock()
	answers, _ := c.LookupBatch(ctx, hosts) // its error joins the answers' when all failed
	var errs []error
	for _, a := range answers {
		errs = append(errs, a.Err)
	}
	return errors.Join(errs...)
}

// resolveHosts asks the servers about hosts (canonical, distinct) in batches of the limit, falls
// back to the local resolver for each name they fail or have nothing for (unless keepStale and
// they failed: then the stale entry stays), caches what it learns and returns one answer per
// host, in order.
func (c *Client) resolveHosts(ctx context.Context, hosts []string, keepStale bool) []Answer {
	gen := c.cache.generation()
	got := make(map[string]hostAnswer, len(hosts))
	for chunk := range slices.Chunk(hosts, max(1, int(c.limit.Load()))) {
		c.askChunk(ctx, chunk, got)
	}
	for _, a := range got {
		if a.clientIP.IsValid() {
			if c.noteClientIP(a.clientIP) {
				gen = c.cache.generation() // answers for the new address: keep them
			}
			break
		}
	}
	out := make([]Answer, len(hosts))
	for i, h := range hosts {
		out[i] = c.settle(ctx, h, got[h], gen, keepStale)
	}
	return out
}

// askChunk asks about one batch and puts an answer for each of its hosts into got: the server's,
// or the error. A server's TooManyHosts lowers the limit to the one it names (or halves the
// batch) and asks again in smaller batches.
func (c *Client) askChunk(ctx context.Context, chunk []string, got map[string]hostAnswer) {
	ans, err := c.ask(ctx, chunk)
	if limit, ok := tooManyHosts(err); ok && len(chunk) > 1 {
		if limit <= 0 || limit >= len(chunk) {
			limit = len(chunk) / 2
		}
		c.limit.Store(int64(limit))
		for small := range slices.Chunk(chunk, limit) {
			c.askChunk(ctx, small, got)
		}
		return
	}
	for _, h := range chunk {
		a, ok := ans[h]
		switch {
		case err != nil:
			a = hostAnswer{err: err}
		case !ok:
			a = hostAnswer{err: fmt.Errorf("resolving %s: the server's answer left it out", h)}
		}
		got[h] = a
	}
}

// settle turns what the servers said about h into its answer, asking the local resolver if they
// failed (unless keepStale) or had no address, and caches it under gen.
func (c *Client) settle(ctx context.Context, h string, sa hostAnswer, gen uint64, keepStale bool) Answer {
	failed := sa.err
	if failed != nil && keepStale {
		return Answer{Host: h, Err: fmt.Errorf("refreshing %s: %w", h, failed)}
	}
	ttl := min(max(sa.ttl, c.cfg.MinTTL), c.cfg.MaxTTL)
	if failed == nil && len(sa.addrs) > 0 {
		c.store(h, sa.addrs, ttl, SourceServer, gen)
		return Answer{Host: h, Addrs: sa.addrs, Source: SourceServer, From: SourceServer, TTL: ttl}
	}
	why := failed
	if why == nil {
		why = ErrNoAddresses
	}
	if !c.cfg.DisableLocalDNS && ctx.Err() == nil {
		addrs, err := c.cfg.LocalDNS.LookupNetIP(ctx, c.ipNetwork(), h)
		if err == nil && len(addrs) > 0 {
			addrs = unmapAll(addrs)
			c.store(h, addrs, c.cfg.LocalDNSTTL, SourceLocalDNS, gen)
			return Answer{Host: h, Addrs: addrs, Source: SourceLocalDNS, From: SourceLocalDNS, TTL: c.cfg.LocalDNSTTL}
		}
		if err != nil {
			why = errors.Join(why, fmt.Errorf("local resolver: %w", err))
		}
	}
	if failed == nil { // the server said: no address. Remember that for its TTL.
		c.store(h, nil, ttl, SourceServer, gen)
		why = ErrNoAddresses
	}
	return Answer{Host: h, Err: fmt.Errorf("resolving %s: %w", h, why)}
}

// store caches addrs for h for ttl, unless the network changed since gen.
func (c *Client) store(h string, addrs []netip.Addr, ttl time.Duration, from Source, gen uint64) {
	c.cache.put(&entry{host: h, addrs: addrs, expires: c.cfg.Now().Add(ttl), from: from}, gen)
}

// ipNetwork is the net.Resolver network of the families asked.
func (c *Client) ipNetwork() string {
	switch c.cfg.Families {
	case "4":
		return "ip4"
	case "6":
		return "ip6"
	}
	return "ip"
}

func unmapAll(addrs []netip.Addr) []netip.Addr {
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return addrs
}

// literal parses h if it is an IP address. Only what could be one is parsed: a failed ParseAddr
// allocates its error, and names are the hot path.
func literal(h string) (netip.Addr, bool) {
	if strings.IndexByte(h, ':') < 0 && strings.Trim(h, "0123456789.") != "" {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(h)
	return ip, err == nil
}

// canonical lower-cases host and drops a trailing dot.
func canonical(host string) string {
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// validHost reports whether h is a host name the servers take: labels of letters, digits,
// hyphens and underscores, 1–63 bytes each, 253 in all.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			b := label[i]
			if !('a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '-' || b == '_') {
				return false
			}
		}
	}
	return true
}
