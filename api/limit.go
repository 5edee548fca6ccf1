package api

import (
	"fmt"
	"hash/maphash"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults and bounds of the per-client rate limit.
const (
	// DefaultRateLimitClients is how many client addresses the rate limiter remembers at most when
	// Config.RateLimitClients is 0: about 64 bytes each, 16 MiB in all.
	DefaultRateLimitClients = 1 << 18
	// limitShards spreads the table over this many locks.
	limitShards = 64
	// limitIPv6Bits is the prefix an IPv6 client is limited by: a /64, the smallest assignment to one
	// subscriber (3GPP gives every mobile device its own /64; RIPE-690 assigns homes /48 to /64), so
	// one bucket never holds two subscribers; a home given a /56 may use 256 buckets.
	limitIPv6Bits = 64
)

// limiter is a token bucket per client address (IPv6: per /64): each bucket holds up to burst
// tokens, refills at rate a second, and a request takes one. The buckets live in a sharded table of
// bounded size, so that clients using many addresses cost bounded memory.
//
// Each shard keeps two generations of buckets, cur and prev. A client found in prev moves to cur. cur
// starts afresh (cur becomes prev, prev is dropped) when it holds its share of the table, or when it
// is older than the time an empty bucket takes to refill: then every bucket still in prev was last
// used before cur began, more than that time ago, so it is full again, and dropping it changes
// nothing. Only a table filled faster than buckets refill (many addresses at once) drops buckets
// that are not full, and their clients start again with a full burst. Every step is O(1): no sweep.
type limiter struct {
	rate   float64 // tokens a second
	burst  float64 // bucket size
	refill int64   // nanoseconds an empty bucket takes to refill, at least a second
	half   int     // most buckets of one shard's generation
	seed   maphash.Seed
	shards [limitShards]limitShard
}

type limitShard struct {
	mu        sync.Mutex
	cur, prev map[limitKey]bucket
	curStart  int64 // unix nanoseconds
	_         [24]byte
}

// limitKey is the limited address as 16 bytes: IPv4 as IPv4-mapped, IPv6 cut to its /64.
type limitKey [16]byte

// bucket is one client's tokens as of last.
type bucket struct {
	tokens float64
	last   int64 // unix nanoseconds
}

// newLimiter returns a limiter of qps tokens a second and burst tokens (0: one second's worth, at
// least 1), remembering at most clients addresses; nil when qps is 0.
func newLimiter(qps float64, burst, clients int) *limiter {
	if qps <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = max(1, int(math.Ceil(qps)))
	}
	l := &limiter{
		rate:   qps,
		burst:  float64(burst),
		refill: max(int64(float64(burst)/qps*1e9), int64(time.Second)),
		half:   max(1, clients/limitShards/2),
		seed:   maphash.MakeSeed(),
	}
	for i := range l.shards {
		l.shards[i].cur = make(map[limitKey]bucket)
	}
	return l
}

// keyOf is the bucket key of addr.
func keyOf(addr netip.Addr) limitKey {
	if addr.Is6() && !addr.Is4In6() {
		addr = netip.PrefixFrom(addr, limitIPv6Bits).Masked().Addr()
	}
	return addr.As16()
}

// allow takes a token from addr's bucket at now. When there is none, it reports how long until
// there is one.
func (l *limiter) allow(addr netip.Addr, now time.Time) (bool, time.Duration) {
	k := keyOf(addr)
	s := &l.shards[maphash.Comparable(l.seed, k)%limitShards]
	t := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if t-s.curStart >= l.refill {
		s.rotate(t)
	}
	b, ok := s.cur[k]
	if !ok {
		if b, ok = s.prev[k]; ok {
			delete(s.prev, k)
		}
		if len(s.cur) >= l.half {
			s.rotate(t)
		}
	}
	if ok {
		b.tokens = min(l.burst, b.tokens+float64(max(0, t-b.last))/1e9*l.rate)
	} else {
		b.tokens = l.burst
	}
	b.last = t
	allowed := b.tokens >= 1
	if allowed {
		b.tokens--
	}
	s.cur[k] = b
	if allowed {
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * 1e9)
}

// rotate starts a new generation at t: cur becomes prev, and prev is dropped.
func (s *limitShard) rotate(t int64) {
	s.prev, s.cur, s.curStart = s.cur, make(map[limitKey]bucket, len(s.cur)), t
}

// clients is how many buckets the table holds; 0 for a nil limiter.
func (l *limiter) clients() int {
	if l == nil {
		return 0
	}
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.cur) + len(s.prev)
		s.mu.Unlock()
	}
	return n
}

// limit wraps the public handler with the per-client rate limit, checked once for every request
// before any door runs. The client is the sender: the connection's peer or, behind a trusted proxy,
// its X-Forwarded-For client; never ip= or any other address a client chooses. /healthz and /readyz
// are not limited: load balancers must always see them, and they cost nothing.
func (a *API) limit(next http.Handler) http.Handler {
	if a.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		ok, wait := a.limiter.allow(a.sender(r), a.now())
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		a.limitMetrics.rateLimited.Inc()
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(wait)))
		a.refuse.ServeHTTP(w, r)
	})
}

// retryAfter is the Retry-After header's whole seconds for a wait, at least 1.
func retryAfter(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}

// refuseLimited answers a request over its client's rate: 429 in the format of the door it was
// for. The JSON doors get {"code":"TooManyRequests"}; RFC 8484 clients (POST, or GET with dns=)
// and DNSPod clients (/d?dn=, /conf) get an empty body, since their formats have no error body to
// put the code in and their clients read only the status.
func (a *API) refuseLimited(w http.ResponseWriter, r *http.Request) {
	if bareDoor(r) {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusTooManyRequests)
		a.metrics.countError(CodeTooManyRequests)
		return
	}
	a.writeError(w, r, errTooManyRequests())
}

// bareDoor reports whether r is for a door whose errors carry no body: RFC 8484 (/dns-query
// without name=) or DNSPod (/d with dn=, /conf).
func bareDoor(r *http.Request) bool {
	switch r.URL.Path {
	case "/dns-query":
		return !r.URL.Query().Has("name")
	case "/d":
		return r.URL.Query().Has("dn")
	case "/conf":
		return true
	}
	return false
}

func errTooManyRequests() *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: CodeTooManyRequests,
		msg: "too many requests from this client; retry after the Retry-After header's seconds"}
}

// limitMetrics are the series of the rate limit and the ip_param policy:
//
//	httpdns_http_rate_limited_total          requests refused with 429 for their client's rate
//	httpdns_http_rate_limit_clients          client addresses (IPv6 /64s) the rate limiter holds
//	httpdns_http_ip_param_ignored_total      client choices (ip= and the like) ignored by ip_param
type limitMetrics struct {
	rateLimited prometheus.Counter
	ipIgnored   prometheus.Counter
}

// newLimitMetrics builds the collectors and registers them with reg (nil: unregistered); the
// clients gauge reads l (nil: 0).
func newLimitMetrics(reg prometheus.Registerer, l *limiter) (*limitMetrics, error) {
	m := &limitMetrics{
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "httpdns_http_rate_limited_total",
			Help: "Requests refused with 429 because their client was over limits.client_qps.",
		}),
		ipIgnored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "httpdns_http_ip_param_ignored_total",
			Help: "Client addresses chosen by a request (ip=, cip=, edns_client_subnet, the ECS option) and ignored by limits.ip_param.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.rateLimited, m.ipIgnored, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "httpdns_http_rate_limit_clients",
		Help: "Client addresses (IPv6: /64s) the rate limiter holds a bucket for.",
	}, func() float64 { return float64(l.clients()) })}
	var done []prometheus.Collector
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, d := range done {
				reg.Unregister(d)
			}
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
		done = append(done, c)
	}
	return m, nil
}
