package fleet

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/redis/go-redis/v9"
)

// Defaults of L2Config's zero fields.
const (
	DefaultL2Timeout      = 5 * time.Millisecond
	DefaultL2WriteTimeout = 100 * time.Millisecond
	DefaultL2Writers      = 4
	DefaultL2Queue        = 4096
	DefaultL2TripAfter    = 5
	DefaultL2OpenFor      = 5 * time.Second
	// MaxL2ValueBytes bounds a value: Put drops a larger one, and Get reads no more of a key (anyone
	// who reaches Redis can write 512 MB under it) and reports a larger one as a miss. The resolver's
	// largest value is about 6 kB (32 addresses and 256 parts).
	MaxL2ValueBytes = 64 << 10
)

// L2Config configures an L2.
type L2Config struct {
	// Prefix starts every key. Default DefaultPrefix.
	Prefix string
	// Timeout bounds one Get, connecting included: past it the request goes on without L2. Default 5ms.
	Timeout time.Duration
	// WriteTimeout bounds one background SET. Default 100ms.
	WriteTimeout time.Duration
	// Writers is how many goroutines write. Default 4.
	Writers int
	// Queue bounds the writes waiting for a writer; a Put that finds it full is dropped. Default 4096.
	Queue int
	// TripAfter is how many failures in a row (errors or timeouts, reads or writes) open the breaker.
	// Default 5.
	TripAfter int
	// OpenFor is how long an open breaker skips Redis before one request probes it again. Default 5s.
	OpenFor time.Duration
	// Metrics are where the L2 counts, made by NewL2Metrics with the registerer they go to; nil: counted only
	// in Stats.
	Metrics *L2Metrics
	// Now is the breaker's clock. Default time.Now.
	Now func() time.Time
}

func (c *L2Config) setDefaults() {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Timeout, DefaultL2Timeout)
	def(&c.WriteTimeout, DefaultL2WriteTimeout)
	def(&c.OpenFor, DefaultL2OpenFor)
	if c.Writers <= 0 {
		c.Writers = DefaultL2Writers
	}
	if c.Queue <= 0 {
		c.Queue = DefaultL2Queue
	}
	if c.TripAfter <= 0 {
		c.TripAfter = DefaultL2TripAfter
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// L2 is the fleet's shared second-level answer cache on Redis (docs/design.md §9.5). It stores opaque values
// (the resolver encodes them) under one key per cache key, each a plain string with the value's remaining
// lifetime as its expiry, so the keys spread over a Redis Cluster's slots. It never holds a request up for
// long: a Get gives up after Timeout, Put only queues, and after TripAfter failures in a row a breaker skips
// Redis for OpenFor, then lets one Get probe it. An L2 satisfies resolver.L2.
type L2 struct {
	rdb     redis.UniversalClient
	cfg     L2Config
	m       *L2Metrics
	breaker breaker
	stats   l2Counts

	queue   chan l2Write
	closeMu sync.RWMutex // held for reading by Put while it queues, for writing by Close
	closed  bool
	writers sync.WaitGroup

	pendMu  sync.Mutex
	pending int           // writes queued or being written
	idle    chan struct{} // closed when pending drops to 0
}

type l2Write struct {
	key   string
	value []byte
	ttl   time.Duration
}

// NewL2 returns an L2 over rdb, which should be made by NewClient (commands give up at the caller's deadline),
// and starts its writers; Close stops them.
func NewL2(rdb redis.UniversalClient, cfg L2Config) (*L2, error) {
	if rdb == nil {
		return nil, errors.New("fleet: no redis client")
	}
	cfg.setDefaults()
	m := cfg.Metrics
	if m == nil {
		m, _ = NewL2Metrics(nil) // nothing to register: cannot fail
	}
	c := &L2{rdb: rdb, cfg: cfg, m: m, queue: make(chan l2Write, cfg.Queue)}
	c.breaker = breaker{tripAfter: int64(cfg.TripAfter), openFor: cfg.OpenFor, now: cfg.Now}
	for range cfg.Writers {
		c.writers.Add(1)
		go c.write()
	}
	return c, nil
}

// Key is the Redis key of k: the prefix, "l2:", then name|qtype|tier|scope. No hash tag: the keys spread over
// a cluster's slots.
func (c *L2) Key(k cache.Key) string {
	b := make([]byte, 0, len(c.cfg.Prefix)+3+len(k.Name)+len(k.Scope)+16)
	b = append(b, c.cfg.Prefix...)
	b = append(b, "l2:"...)
	b = append(b, k.Name...)
	b = append(b, '|')
	b = strconv.AppendUint(b, uint64(k.Qtype), 10)
	b = append(b, '|')
	b = append(b, k.Tier.String()...)
	b = append(b, '|')
	b = append(b, k.Scope...)
	return string(b)
}

// Get returns the value stored under k. A miss, an error, a timeout and an open breaker all report false:
// the caller asks upstream as it would without an L2.
func (c *L2) Get(ctx context.Context, k cache.Key) ([]byte, bool) {
	if !c.breaker.allow() {
		c.count(resultSkipped)
		return nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	start := time.Now()
	// One byte over the bound at most, to tell a value over it; a missing key reads "" (no value is empty).
	v, err := c.rdb.GetRange(ctx, c.Key(k), 0, MaxL2ValueBytes).Bytes()
	c.m.latency.Observe(time.Since(start).Seconds())
	switch {
	case err == nil && len(v) > 0 && len(v) <= MaxL2ValueBytes:
		c.succeed()
		c.count(resultHit)
		return v, true
	case err == nil || errors.Is(err, redis.Nil):
		c.succeed()
		c.count(resultMiss)
		return nil, false
	case isTimeout(err):
		c.fail()
		c.count(resultTimeout)
	default:
		c.fail()
		c.count(resultError)
	}
	return nil, false
}

// Put queues value to be stored under k for ttl and returns at once. The write is dropped when ttl is not
// positive, the value is empty or over MaxL2ValueBytes, the queue is full, the breaker is open (now or when
// a writer takes it) or the L2 is closed.
func (c *L2) Put(k cache.Key, value []byte, ttl time.Duration) {
	if ttl < time.Millisecond || len(value) == 0 || len(value) > MaxL2ValueBytes || !c.breaker.closed() {
		c.countWrite(writeDropped)
		return
	}
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if c.closed {
		c.countWrite(writeDropped)
		return
	}
	c.addPending(1)
	select {
	case c.queue <- l2Write{key: c.Key(k), value: value, ttl: ttl}:
	default:
		c.addPending(-1)
		c.countWrite(writeDropped)
	}
}

// write is one writer: it SETs queued values until Close.
func (c *L2) write() {
	defer c.writers.Done()
	for w := range c.queue {
		if !c.breaker.closed() {
			// Opened since it was queued: Redis is failing, and a queue of writes each waiting out
			// WriteTimeout would only hold Close up.
			c.countWrite(writeDropped)
			c.addPending(-1)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.WriteTimeout)
		err := c.rdb.Set(ctx, w.key, w.value, w.ttl).Err()
		cancel()
		if err != nil {
			c.fail()
			c.countWrite(writeError)
		} else {
			c.succeed()
			c.countWrite(writeOK)
		}
		c.addPending(-1)
	}
}

// Flush waits until every write queued before it is done, or ctx ends. Tests and benchmarks use it to see
// one node's writes from another without waiting on a clock.
func (c *L2) Flush(ctx context.Context) error {
	c.pendMu.Lock()
	if c.pending == 0 {
		c.pendMu.Unlock()
		return nil
	}
	idle := c.idle
	c.pendMu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *L2) addPending(d int) {
	c.pendMu.Lock()
	defer c.pendMu.Unlock()
	if c.pending == 0 && d > 0 {
		c.idle = make(chan struct{})
	}
	c.pending += d
	if c.pending == 0 && d < 0 {
		close(c.idle)
	}
}

// Close stops taking writes, lets the writers finish what is queued (each bounded by WriteTimeout) and waits
// for them. It does not close the Redis client, which belongs to the caller.
func (c *L2) Close() error {
	c.closeMu.Lock()
	if c.closed {
		c.closeMu.Unlock()
		return nil
	}
	c.closed = true
	close(c.queue)
	c.closeMu.Unlock()
	c.writers.Wait()
	return nil
}

// succeed records a success with the breaker, which closes it.
func (c *L2) succeed() {
	if c.breaker.success() {
		c.m.breakerOpen.Set(0)
	}
}

// fail records a failure with the breaker and shows its state.
func (c *L2) fail() {
	if c.breaker.failure() {
		c.m.breakerOpen.Set(1)
		c.m.trips.Inc()
	}
}

// isTimeout reports whether err is the Get's deadline passing, by the context or by the connection.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// breaker stops Redis calls after tripAfter failures in a row, for openFor; then one call probes, and its
// outcome closes the breaker or opens it for another openFor.
type breaker struct {
	tripAfter int64
	openFor   time.Duration
	now       func() time.Time

	fails     atomic.Int64 // failures in a row
	openUntil atomic.Int64 // unix nanoseconds; 0: closed
	probing   atomic.Bool  // a probe is out while half-open
}

// closed reports whether the breaker lets calls through without a probe.
func (b *breaker) closed() bool { return b.openUntil.Load() == 0 }

// allow reports whether a call may go to Redis: always while closed; while open, one call once openFor has
// passed (the probe).
func (b *breaker) allow() bool {
	until := b.openUntil.Load()
	if until == 0 {
		return true
	}
	if b.now().UnixNano() < until {
		return false
	}
	return b.probing.CompareAndSwap(false, true)
}

// success closes the breaker and reports whether it was open.
func (b *breaker) success() bool {
	b.fails.Store(0)
	if b.openUntil.Load() == 0 {
		return false
	}
	b.openUntil.Store(0)
	b.probing.Store(false)
	return true
}

// failure counts a failure and reports whether it opened the breaker (or reopened it after a failed probe).
func (b *breaker) failure() bool {
	n := b.fails.Add(1)
	if b.openUntil.Load() != 0 {
		if b.probing.Load() {
			b.openUntil.Store(b.now().Add(b.openFor).UnixNano())
			b.probing.Store(false)
		}
		return false
	}
	if n < b.tripAfter {
		return false
	}
	return b.openUntil.CompareAndSwap(0, b.now().Add(b.openFor).UnixNano())
}
