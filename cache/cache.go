package cache

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for the zero fields of Config.
const (
	// DefaultMaxBytes is the byte budget when Config.MaxBytes is 0.
	DefaultMaxBytes = 256 << 20
	// DefaultStaleWindow is how long expired entries are kept when
	// Config.StaleWindow is 0: one day, the low end of RFC 8767's 1–3 days.
	DefaultStaleWindow = 24 * time.Hour
	// DefaultRefreshGrace is the serve-then-refresh grace when
	// Config.RefreshGrace is 0.
	DefaultRefreshGrace = 30 * time.Second
	// MinMaxBytes is the smallest accepted byte budget.
	MinMaxBytes = 4 << 10
)

// bufferItems is ristretto's BufferItems: the size of its lossy Get buffers,
// 64 as its documentation recommends.
const bufferItems = 64

// ErrInvalidConfig is wrapped by every problem New finds in a Config.
var ErrInvalidConfig = errors.New("invalid cache config")

// Config configures a Cache. The zero value is usable.
type Config struct {
	// MaxBytes is the byte budget of all tiers together, ristretto's
	// admission counters included (about a tenth of it). Default 256 MiB
	// (DefaultMaxBytes); at least MinMaxBytes.
	MaxBytes int64
	// StaleWindow is how long past expiry an entry is kept to be served when
	// every upstream fails (RFC 8767). Default 24h (DefaultStaleWindow); it
	// must not be shorter than RefreshGrace.
	StaleWindow time.Duration
	// RefreshGrace is how long past expiry Get still reports Stale (answer,
	// then refresh in the background) rather than Miss. Default 30s
	// (DefaultRefreshGrace).
	RefreshGrace time.Duration
	// Registerer receives the cache's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Now is the clock entries are judged by. Default time.Now.
	Now func() time.Time
}

// withDefaults fills the zero fields.
func (cfg Config) withDefaults() Config {
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.StaleWindow == 0 {
		cfg.StaleWindow = DefaultStaleWindow
	}
	if cfg.RefreshGrace == 0 {
		cfg.RefreshGrace = DefaultRefreshGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// validate reports every problem of a defaulted Config at once.
func (cfg Config) validate() error {
	var errs []error
	if cfg.MaxBytes < MinMaxBytes {
		errs = append(errs, fmt.Errorf("%w: MaxBytes %d is below the minimum %d", ErrInvalidConfig, cfg.MaxBytes, MinMaxBytes))
	}
	if cfg.StaleWindow < 0 {
		errs = append(errs, fmt.Errorf("%w: StaleWindow %v is negative", ErrInvalidConfig, cfg.StaleWindow))
	}
	if cfg.RefreshGrace < 0 {
		errs = append(errs, fmt.Errorf("%w: RefreshGrace %v is negative", ErrInvalidConfig, cfg.RefreshGrace))
	}
	if cfg.RefreshGrace > cfg.StaleWindow && cfg.StaleWindow >= 0 {
		errs = append(errs, fmt.Errorf("%w: RefreshGrace %v is longer than StaleWindow %v", ErrInvalidConfig, cfg.RefreshGrace, cfg.StaleWindow))
	}
	return errors.Join(errs...)
}

// Cache is the three-tier answer cache. It is safe for concurrent use, except
// that Close must not run concurrently with the other methods.
type Cache struct {
	rc      *ristretto.Cache[uint64, *item]
	now     func() time.Time
	grace   time.Duration
	window  time.Duration
	metrics *metrics
	reg     prometheus.Registerer

	// entries counts each tier's values that ristretto holds or is about to
	// apply: incremented for every Set it accepts, decremented by OnExit,
	// which ristretto calls exactly once for every accepted value (see
	// onExit).
	entries [tierSlots]atomic.Int64
	closing atomic.Bool
	once    sync.Once

	// rejectHook, when set (by tests), runs inside ristretto's apply
	// goroutine on every rejection, which lets a test stall that goroutine.
	rejectHook func()
}

// New returns a Cache for cfg, or every configuration problem joined, or the
// error of registering its metrics.
func New(cfg Config) (*Cache, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	plan := planBudget(cfg.MaxBytes)
	c := &Cache{now: cfg.Now, grace: cfg.RefreshGrace, window: cfg.StaleWindow, reg: cfg.Registerer}
	rc, err := ristretto.NewCache(&ristretto.Config[uint64, *item]{
		NumCounters:        plan.numCounters,
		MaxCost:            plan.maxCost,
		BufferItems:        bufferItems,
		IgnoreInternalCost: true, // item.cost already counts ristretto's bookkeeping
		OnEvict:            c.onEvict,
		OnReject:           c.onReject,
		OnExit:             c.onExit,
	})
	if err != nil {
		return nil, fmt.Errorf("creating ristretto cache: %w", err)
	}
	c.rc = rc
	c.metrics = newMetrics(c.Len, c.Bytes, plan.maxCost)
	if err := c.metrics.register(cfg.Registerer); err != nil {
		rc.Close()
		return nil, err
	}
	return c, nil
}

// Get looks k up and classifies what it finds against the clock:
//   - fresh: (entry, Hit, true);
//   - expired at most RefreshGrace ago: (entry, Stale, true);
//   - expired longer, but at most StaleWindow ago: (entry, Miss, true), for
//     the caller to fall back to when every upstream fails (RFC 8767);
//   - absent or older: (Entry{}, Miss, false).
//
// Each call counts once in httpdns_cache_requests_total (a key with an
// invalid tier is a miss and counts nowhere). The returned IPs are shared:
// do not modify them.
func (c *Cache) Get(k Key) (Entry, Result, bool) {
	if !k.Tier.Valid() {
		return Entry{}, Miss, false
	}
	e, res, ok := c.lookup(k)
	c.metrics.requests[k.Tier][res].Inc()
	return e, res, ok
}

// Peek is Get without counting a request, for background refresh decisions:
// it returns what Get would (ok is Get's third result) and leaves the
// Result to be derived from the entry with Remaining.
func (c *Cache) Peek(k Key) (Entry, bool) {
	if !k.Tier.Valid() {
		return Entry{}, false
	}
	e, _, ok := c.lookup(k)
	return e, ok
}

// Lookup is Get without counting a request. A caller that reads several keys
// to answer one request (a block, then the part the block points to, then a
// name-wide entry) reads them with Lookup and counts the request's one
// outcome with Count, so httpdns_cache_requests_total counts requests, not
// internal reads.
func (c *Cache) Lookup(k Key) (Entry, Result, bool) {
	if !k.Tier.Valid() {
		return Entry{}, Miss, false
	}
	return c.lookup(k)
}

// Count counts one request's outcome in httpdns_cache_requests_total under
// tier t (an invalid tier or result counts nowhere).
func (c *Cache) Count(t Tier, r Result) {
	if t.Valid() && r >= Hit && r <= Miss {
		c.metrics.requests[t][r].Inc()
	}
}

// lookup finds k's entry and classifies it. The stale window is checked here
// against the injected clock and not left to ristretto's expiry, which runs on
// the real clock and only as precisely as its cleanup buckets.
func (c *Cache) lookup(k Key) (Entry, Result, bool) {
	it, found := c.rc.Get(k.hash())
	if !found || !it.matches(k) {
		return Entry{}, Miss, false
	}
	past := c.now().Sub(it.entry.Expires())
	switch {
	case past < 0:
		return it.entry, Hit, true
	case past <= c.grace:
		return it.entry, Stale, true
	case past <= c.window:
		return it.entry, Miss, true
	}
	return Entry{}, Miss, false
}

// Set stores a copy of e under k for its TTL plus the stale window, replacing
// any entry under k. Like every ristretto write it is applied asynchronously
// (Wait applies it) and it reports false when the entry will not be stored:
// the tier is invalid, the entry is already past its stale window, the cache
// is closed, or ristretto dropped the write because its buffer was full
// (counted in httpdns_cache_sets_dropped_total). True is no promise either:
// ristretto's TinyLFU admission may still refuse a new key when the cache is
// full (counted in httpdns_cache_sets_rejected_total).
func (c *Cache) Set(k Key, e Entry) bool {
	if !k.Tier.Valid() || c.closing.Load() {
		return false
	}
	life := e.Expires().Add(c.window).Sub(c.now())
	if life <= 0 {
		return false
	}
	it := newItem(k, e)
	// Count before ristretto sees the value: replacing an existing value calls
	// onExit for the old one synchronously inside SetWithTTL, and counting
	// first keeps the gauge from dipping below the truth meanwhile.
	c.entries[k.Tier].Add(1)
	if c.rc.SetWithTTL(k.hash(), it, it.cost(), life) {
		return true
	}
	c.entries[k.Tier].Add(-1)
	c.metrics.dropped[k.Tier].Inc()
	return false
}

// Wait blocks until every Set accepted before it has been applied, so a
// following Get sees it. Tests and tools use it; the request path does not.
func (c *Cache) Wait() {
	c.rc.Wait()
}

// Len returns how many entries tier t holds (0 for an invalid tier). Writes
// not yet applied are included, and writes that admission will refuse are
// included until it has; after Wait the count is exact.
func (c *Cache) Len(t Tier) int64 {
	if !t.Valid() {
		return 0
	}
	return c.entries[t].Load()
}

// Bytes returns the estimated bytes the entries of all tiers occupy: the sum
// of their ristretto costs. Admission keeps it within the budget that
// MaxBytes leaves after the admission counters; replacing an entry with a
// larger one may exceed it until the next new key makes room.
func (c *Cache) Bytes() int64 {
	return c.rc.MaxCost() - c.rc.RemainingCost()
}

// Close drops every entry, stops ristretto's goroutines and unregisters the
// metrics, so a replacement cache can register them again. It is idempotent,
// and no other method may run concurrently with it.
func (c *Cache) Close() {
	c.once.Do(func() {
		c.closing.Store(true)
		c.rc.Close()
		c.metrics.unregister(c.reg)
	})
}
