package resolver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/upstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// Locator tells where a client address sits. *cidrdb.DB satisfies it.
type Locator interface {
	Locate(addr netip.Addr) cidrdb.Location
}

// PolicySource gives a name's rule. *Whitelist satisfies it.
type PolicySource interface {
	Lookup(name string) Rule
}

// SplitSink receives split signals: answers whose ECS scope is narrower than the block they were asked
// for. The prober reads them to split blocks. It must not block.
type SplitSink interface {
	RecordSplit(SplitSignal)
}

// SplitSignal says that the CDN answered name for a part of Block narrower than Block.
type SplitSignal struct {
	Name   string
	Qtype  uint16
	Block  netip.Prefix // the network of the client's block
	Source netip.Prefix // the ECS source prefix sent: the client's /24 (IPv6 /56)
	Scope  netip.Prefix // the client's prefix at the reply's scope length (may be finer than /24)
	Answer []netip.Addr
	Time   time.Time
	// Check marks a signal from an accuracy check's mismatch (accuracy.go): the client's /24 gets
	// another answer than its block's, whatever the reply's scope.
	Check bool
}

// Config configures a Resolver. Durations are wall-clock; zero values take the defaults given.
type Config struct {
	Upstreams []string     // recursive nodes, host:port; required
	Locator   Locator      // required
	Cache     *cache.Cache // required
	Policy    PolicySource // required
	Splits    SplitSink    // optional
	Demand    DemandSink   // optional: where IPv6 clients' /56s are recorded for the prober
	L2        L2           // optional: the fleet's shared answer cache (docs/design.md §9.5)

	// Accuracy configures the accuracy checks (accuracy.go); the zero value turns them off.
	Accuracy AccuracyConfig

	MinTTL          time.Duration // lower clamp of answer TTLs; default 10s
	MaxTTL          time.Duration // upper clamp; default 1h
	NegativeMaxTTL  time.Duration // cap for NXDOMAIN/NODATA (RFC 2308); default 5m
	ServfailTTL     time.Duration // how long a failed name (every node failed, or two failed it alike) is remembered; default 5s
	StaleAnswerTTL  time.Duration // TTL of answers served stale when upstreams fail (RFC 8767); default 30s
	UpstreamTimeout time.Duration // one upstream attempt; default 800ms
	RequestTimeout  time.Duration // a whole upstream fetch, all attempts; default 3s
	MaxRefreshes    int           // concurrent background refreshes; default 64

	// UpstreamQPS is the budget of queries a second everything sends upstream: client misses
	// always go, active refresh, passive refresh and prefetch only while enough is left (in that
	// order). 0: unlimited (the default).
	UpstreamQPS float64
	// PrefetchSiblings is how many sibling blocks (same country, city, ISP; nearest by address)
	// are refreshed along with a subnet-tier answer fetched upstream, if clients asked for them at
	// least ActiveMinAsks times since their last fetch and they are past their refresh point.
	// Default 4; negative disables sibling prefetch.
	PrefetchSiblings int
	// ActiveMinAsks is how many times clients must have asked for a key of an active rule since
	// it was last fetched for active refresh to refresh it ahead of expiry, and for a sibling block
	// to be prefetched. Default 2.
	ActiveMinAsks int
	// TrackKeys bounds how many recently asked keys are remembered for active refresh and sibling
	// prefetch. Default 100000.
	TrackKeys int
	// SweepInterval is how often hot keys are checked for active refresh. Default 1s.
	SweepInterval time.Duration

	// Upstream health, hedging and bounds (package upstream).
	HealthCheckInterval time.Duration // active checks of ejected and suspect nodes; default 2s
	HealthCheckName     string        // known-good name the checks ask, type NS; SERVFAIL or silence counts against a node; default "."
	HedgeMin            time.Duration // least wait before asking a second node; default 2ms; negative: never hedge
	EjectErrorRate      float64       // share of the node's own failures among recent outcomes (≥10 in 30s) that ejects it; default 0.5
	SlowFactor          float64       // latency EWMA over this × the others' median (and 50ms) ejects; default 4
	// UpstreamMaxInflight caps the upstream queries running at once; past it a client's miss waits up
	// to 100ms for a slot, then fails with ErrUpstreamBusy, and background refreshes are skipped.
	// Default 1024 (upstream.DefaultMaxInflight).
	UpstreamMaxInflight int

	Registerer prometheus.Registerer // nil: metrics not registered
	Logger     *slog.Logger          // nil: discard
	Now        func() time.Time      // default time.Now
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.MinTTL, 10*time.Second)
	def(&c.MaxTTL, time.Hour)
	def(&c.NegativeMaxTTL, 5*time.Minute)
	def(&c.ServfailTTL, 5*time.Second)
	def(&c.StaleAnswerTTL, 30*time.Second)
	def(&c.UpstreamTimeout, 800*time.Millisecond)
	def(&c.RequestTimeout, 3*time.Second)
	if c.MaxRefreshes == 0 {
		c.MaxRefreshes = 64
	}
	if c.PrefetchSiblings == 0 {
		c.PrefetchSiblings = 4
	}
	if c.ActiveMinAsks == 0 {
		c.ActiveMinAsks = 2
	}
	if c.TrackKeys == 0 {
		c.TrackKeys = 100_000
	}
	def(&c.SweepInterval, time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.setPoolDefaults()
}

func (c *Config) validate() error {
	var errs []error
	if len(c.Upstreams) == 0 {
		errs = append(errs, errors.New("upstreams: at least one is required"))
	}
	if c.Locator == nil {
		errs = append(errs, errors.New("locator: required"))
	}
	if c.Cache == nil {
		errs = append(errs, errors.New("cache: required"))
	}
	if c.Policy == nil {
		errs = append(errs, errors.New("policy: required"))
	}
	if c.MinTTL < 0 || c.MaxTTL < c.MinTTL {
		errs = append(errs, fmt.Errorf("ttl: min %v must be in [0, max %v]", c.MinTTL, c.MaxTTL))
	}
	if c.UpstreamTimeout < 0 || c.RequestTimeout < 0 || c.NegativeMaxTTL < 0 || c.ServfailTTL < 0 {
		errs = append(errs, errors.New("timeouts and TTLs must not be negative"))
	}
	errs = append(errs, c.validatePool(), c.Accuracy.validate())
	return errors.Join(errs...)
}

// Resolver answers Queries from the cache, asking the upstream pool with ECS on a miss.
type Resolver struct {
	cfg     Config
	pool    *upstream.Pool
	cache   *cache.Cache
	metrics *metrics
	group   singleflight.Group

	budget     *budget
	recent     *recent      // keys asked lately, for active refresh and sibling prefetch
	autoGlobal *autoGlobal  // evidence that names are the same for every client (autoglobal.go)
	names      *scopeNames  // interned key scopes (scopes.go)
	landing    *landing     // answers just fetched, until the cache shows them (landing.go)
	acc        *accuracy    // the accuracy checks (accuracy.go); nil: off
	sweepMu    sync.Mutex   // one Sweep at a time
	sweepBuf   []sweepItem  // reused by Sweep
	closeMu    sync.RWMutex // held for writing by Close, for reading while starting a refresh
	closed     bool
	inflight   sync.Map      // flight keys of background refreshes running now
	sem        chan struct{} // bounds background refreshes
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup // background refreshes and the leaders of misses
	loops      sync.WaitGroup // the refresher
}

// New validates cfg and builds a Resolver. Close stops its background work.
func New(cfg Config) (*Resolver, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := newMetrics(cfg.Registerer)
	p, err := upstream.New(cfg.upstreamConfig())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Resolver{
		cfg:        cfg,
		pool:       p,
		cache:      cfg.Cache,
		metrics:    m,
		sem:        make(chan struct{}, cfg.MaxRefreshes),
		ctx:        ctx,
		cancel:     cancel,
		budget:     newBudget(cfg.UpstreamQPS, cfg.Now),
		recent:     newRecent(cfg.TrackKeys),
		autoGlobal: newAutoGlobal(cfg.TrackKeys),
		names:      newScopeNames(),
		landing:    newLanding(),
	}
	registerTracker(cfg.Registerer, r.recent)
	r.acc = newAccuracy(cfg.Accuracy, newAccuracyMetrics(cfg.Registerer), cfg.Now)
	r.loops.Add(1)
	go func() {
		defer r.loops.Done()
		r.runRefresher(ctx, cfg.SweepInterval)
	}()
	return r, nil
}

// Close cancels background refreshes and the upstream queries of misses, and waits for them to
// end; a miss after Close fails with ErrUpstreamUnavailable.
func (r *Resolver) Close() error {
	r.closeMu.Lock()
	r.closed = true
	r.closeMu.Unlock()
	r.cancel()
	r.loops.Wait()
	r.wg.Wait()
	r.pool.Close()
	return nil
}
