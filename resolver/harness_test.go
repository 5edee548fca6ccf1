package resolver

import (
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/prometheus/client_golang/prometheus"
)

// clock is a fake clock shared by the cache and the resolver, so TTLs age without sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// splits records split signals.
type splits struct {
	mu  sync.Mutex
	got []SplitSignal
}

func (s *splits) RecordSplit(sig SplitSignal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, sig)
}

func (s *splits) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// env is a resolver wired to real in-process DNS servers of the simulated CDN world and real mmdbs.
type env struct {
	world   *cdnsim.World
	servers []*cdnsim.Server
	r       *Resolver
	cache   *cache.Cache
	clock   *clock
	splits  *splits
	reg     *prometheus.Registry
	db      *cidrdb.DB
	wl      *Whitelist
	opts    envOptions
}

type envOptions struct {
	nodes     int
	whitelist string
	records   []cidrdb.Record // a CIDRDB to write, if any
	upstream  time.Duration   // per-attempt timeout
	request   time.Duration
	l2        L2 // the fleet's shared answer cache, if any
}

var (
	worldOnce sync.Once
	world     *cdnsim.World
	worldErr  error
)

// sharedWorld builds the default world once; it is immutable and safe to share.
func sharedWorld(t testing.TB) *cdnsim.World {
	t.Helper()
	worldOnce.Do(func() { world, worldErr = cdnsim.NewWorld(cdnsim.DefaultConfig()) })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return world
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.nodes == 0 {
		o.nodes = 1
	}
	if o.upstream == 0 {
		o.upstream = 300 * time.Millisecond
	}
	if o.request == 0 {
		o.request = 2 * time.Second
	}
	e := &env{world: sharedWorld(t), clock: &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		splits: &splits{}, reg: prometheus.NewRegistry()}
	dir := t.TempDir()
	city, isp, err := e.world.WriteGeoDBs(dir)
	if err != nil {
		t.Fatal(err)
	}
	dbcfg := cidrdb.Config{CityPath: city, ISPPath: isp}
	if o.records != nil {
		dbcfg.CIDRDBPath = filepath.Join(dir, "cidrdb.mmdb")
		if err := cidrdb.WriteFile(dbcfg.CIDRDBPath, o.records); err != nil {
			t.Fatal(err)
		}
	}
	db, err := cidrdb.Open(dbcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	wl, err := OpenWhitelist("", cache.TierCityISP)
	if err != nil {
		t.Fatal(err)
	}
	if err := wl.Replace([]byte(o.whitelist)); err != nil {
		t.Fatal(err)
	}
	e.cache, err = cache.New(cache.Config{MaxBytes: 64 << 20, Now: e.clock.Now, Registerer: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cache.Close)
	for range o.nodes {
		e.servers = append(e.servers, cdnsim.StartTest(t, e.world))
	}
	e.db, e.wl, e.opts = db, wl, o
	e.start(t)
	return e
}

// start builds e's resolver.
func (e *env) start(t testing.TB) {
	t.Helper()
	var addrs []string
	for _, s := range e.servers {
		addrs = append(addrs, s.Addr())
	}
	var err error
	e.r, err = New(Config{
		Upstreams: addrs, Locator: e.db, Cache: e.cache, Policy: e.wl, Splits: e.splits, L2: e.opts.l2,
		UpstreamTimeout: e.opts.upstream, RequestTimeout: e.opts.request,
		Registerer: e.reg, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.r.Close() })
}

// peer is another node beside e: the same upstream servers, databases, whitelist and clock, its own
// cache and resolver, with l2 as its shared answer cache.
func (e *env) peer(t testing.TB, l2 L2) *env {
	t.Helper()
	p := *e
	p.splits, p.reg = &splits{}, prometheus.NewRegistry()
	p.opts.l2 = l2
	var err error
	p.cache, err = cache.New(cache.Config{MaxBytes: 64 << 20, Now: e.clock.Now, Registerer: p.reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.cache.Close)
	p.start(t)
	return &p
}

// queries is the number of queries all nodes received for name.
func (e *env) queries(name string) int64 {
	var n int64
	for _, s := range e.servers {
		n += s.QueriesFor(name)
	}
	return n
}

// settle waits for background refreshes and buffered cache writes.
func (e *env) settle() {
	e.r.wg.Wait()
	e.cache.Wait()
}

// clientOf returns the i-th client address of the world's /24 number n.
func (e *env) clientOf(t *testing.T, n, i int) netip.Addr {
	t.Helper()
	subnets := e.world.Subnets()
	return e.world.ClientIn(subnets[n%len(subnets)], i)
}
