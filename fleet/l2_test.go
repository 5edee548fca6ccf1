package fleet_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/internal/redistest"
	"github.com/prometheus/client_golang/prometheus"
)

// fakeNow is a clock a test moves by hand, for the breaker's open time.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeNow) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeNow) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newL2(t *testing.T, addrs []string, cfg fleet.L2Config) *fleet.L2 {
	t.Helper()
	rdb := fleet.NewClient(addrs, "")
	t.Cleanup(func() { rdb.Close() })
	if cfg.Timeout == 0 {
		// Not the 5 ms default: a first read dials, which under -race on a busy machine can take
		// longer and would count as a timeout. Tests of the timeout set their own.
		cfg.Timeout = time.Second
	}
	l2, err := fleet.NewL2(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l2.Close() })
	return l2
}

var l2Key = cache.Key{Name: "api.example.test", Qtype: 1, Tier: cache.TierSubnet, Scope: "1.2.0.0/20"}

func TestL2RoundTrip(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	l2 := newL2(t, []string{addr}, fleet.L2Config{Prefix: "p:"})
	ctx := ctxTimeout(t, 5*time.Second)
	if v, ok := l2.Get(ctx, l2Key); ok {
		t.Fatalf("Get before any Put: %q, want a miss", v)
	}
	val := []byte{1, 0, 255, 3}
	l2.Put(l2Key, val, 30*time.Second)
	if err := l2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	v, ok := l2.Get(ctx, l2Key)
	if !ok || !bytes.Equal(v, val) {
		t.Fatalf("Get after Put: %v %v, want %v", v, ok, val)
	}
	if got, want := l2.Key(l2Key), "p:l2:api.example.test|1|subnet|1.2.0.0/20"; got != want {
		t.Fatalf("key %q, want %q", got, want)
	}
	// The key expires with the value's remaining lifetime, so Redis never serves an expired answer.
	rdb := fleet.NewClient([]string{addr}, "")
	defer rdb.Close()
	pttl, err := rdb.PTTL(ctx, l2.Key(l2Key)).Result()
	if err != nil || pttl <= 29*time.Second || pttl > 30*time.Second {
		t.Fatalf("PTTL %v %v, want within (29s, 30s]", pttl, err)
	}
	other := l2Key
	other.Tier, other.Scope = cache.TierCityISP, "CN/Beijing/Telecom"
	if _, ok := l2.Get(ctx, other); ok {
		t.Fatal("another tier's key shares the value")
	}
	l2.Put(l2Key, val, 0) // an expired answer is not written
	st := l2.Stats()
	if st.Hits != 1 || st.Misses != 2 || st.Written != 1 || st.Dropped != 1 || st.BreakerOpen {
		t.Fatalf("stats %+v, want 1 hit, 2 misses, 1 written, 1 dropped", st)
	}
	if r := st.HitRatio(); r < 0.33 || r > 0.34 {
		t.Fatalf("hit ratio %v, want 1/3", r)
	}
}

// TestL2RedisDown: with Redis gone every Get fails fast, and after TripAfter failures the breaker opens: Gets
// are skipped without touching Redis until OpenFor has passed; then one probe, and Redis back closes it.
func TestL2RedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	clk := &fakeNow{t: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}
	reg := prometheus.NewRegistry()
	m, err := fleet.NewL2Metrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	l2 := newL2(t, []string{srv.Addr}, fleet.L2Config{Timeout: fleet.DefaultL2Timeout, TripAfter: 3, OpenFor: 5 * time.Second, Now: clk.Now, Metrics: m})
	ctx := ctxTimeout(t, 10*time.Second)
	srv.Stop()
	for i := range 3 {
		start := time.Now()
		if _, ok := l2.Get(ctx, l2Key); ok {
			t.Fatal("Get with Redis down reported a hit")
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Get %d with Redis down took %v; want it bounded by the 5ms timeout (1s allowed)", i, d)
		}
	}
	st := l2.Stats()
	if st.Errors+st.Timeouts != 3 || !st.BreakerOpen {
		t.Fatalf("after 3 failures: %+v, want 3 errors or timeouts and the breaker open", st)
	}
	if g := metricValue(t, reg, "httpdns_l2_breaker_open"); g != 1 {
		t.Fatalf("httpdns_l2_breaker_open %v, want 1", g)
	}
	// Open: no Redis attempt at all (errors and timeouts stay put, skipped counts), writes dropped.
	for range 100 {
		l2.Get(ctx, l2Key)
	}
	l2.Put(l2Key, []byte{1}, time.Minute)
	st2 := l2.Stats()
	if st2.Errors+st2.Timeouts != 3 || st2.Skipped != 100 || st2.Dropped != 1 {
		t.Fatalf("while open: %+v, want no new attempt, 100 skipped, 1 dropped", st2)
	}
	// After OpenFor one request probes; Redis still down: open again, for another OpenFor.
	clk.add(5 * time.Second)
	l2.Get(ctx, l2Key)
	l2.Get(ctx, l2Key)
	if st3 := l2.Stats(); st3.Errors+st3.Timeouts != 4 || st3.Skipped != 101 || !st3.BreakerOpen {
		t.Fatalf("after a failed probe: %+v, want one more attempt, one more skipped, still open", st3)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	clk.add(5 * time.Second)
	// The probe may meet a connection the pool still holds to the old server; a few tries at most.
	var st4 fleet.L2Stats
	for range 5 {
		clk.add(5 * time.Second)
		l2.Get(ctx, l2Key)
		if st4 = l2.Stats(); !st4.BreakerOpen {
			break
		}
	}
	if st4.BreakerOpen || st4.Misses != 1 {
		t.Fatalf("Redis back: %+v, want the probe to miss and close the breaker", st4)
	}
	if g := metricValue(t, reg, "httpdns_l2_breaker_open"); g != 0 {
		t.Fatalf("httpdns_l2_breaker_open %v after Redis came back, want 0", g)
	}
}

// TestL2RedisSlow: a Redis that does not answer (CLIENT PAUSE) costs a Get its Timeout, counted as a timeout.
func TestL2RedisSlow(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	l2 := newL2(t, []string{addr}, fleet.L2Config{Timeout: 100 * time.Millisecond})
	ctx := ctxTimeout(t, 10*time.Second)
	l2.Get(ctx, l2Key)            // a pooled connection, so the pause is what the Get meets
	before := l2.Stats().Timeouts // a loaded machine may time out even that Get
	admin := fleet.NewClient([]string{addr}, "")
	defer admin.Close()
	if err := admin.Do(ctx, "CLIENT", "PAUSE", 1000, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, ok := l2.Get(ctx, l2Key)
	d := time.Since(start)
	if ok || d < 100*time.Millisecond || d > time.Second {
		t.Fatalf("Get from a paused Redis: hit %v after %v, want a miss after the 100ms timeout (1s allowed)", ok, d)
	}
	if st := l2.Stats(); st.Timeouts != before+1 {
		t.Fatalf("stats %+v, want 1 timeout more than the %d before the pause", st, before)
	}
}

// TestL2QueueFull: Put never blocks; past the queue's bound writes are dropped and counted.
func TestL2QueueFull(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	l2 := newL2(t, []string{addr}, fleet.L2Config{Writers: 1, Queue: 2, WriteTimeout: 2 * time.Second})
	ctx := ctxTimeout(t, 10*time.Second)
	admin := fleet.NewClient([]string{addr}, "")
	defer admin.Close()
	if err := admin.Do(ctx, "CLIENT", "PAUSE", 300, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 50 {
		l2.Put(l2Key, []byte{1}, time.Minute)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("50 Puts against a paused Redis took %v: Put must not wait on Redis", d)
	}
	if err := l2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := l2.Stats()
	if st.Dropped < 47 || st.Written+st.WriteErrors+st.Dropped != 50 {
		t.Fatalf("stats %+v, want at most 3 writes (one writing, two queued) and the rest dropped", st)
	}
	l2.Close()
	l2.Put(l2Key, []byte{1}, time.Minute)
	if st2 := l2.Stats(); st2.Dropped != st.Dropped+1 {
		t.Fatalf("Put after Close: %+v, want it dropped", st2)
	}
}

// TestL2Cluster: on a 3-master Redis Cluster the keys spread over the masters and read back.
func TestL2Cluster(t *testing.T) {
	t.Parallel()
	addrs := redistest.StartCluster(t)
	l2 := newL2(t, addrs, fleet.L2Config{Timeout: time.Second})
	ctx := ctxTimeout(t, 20*time.Second)
	names := []string{"a.test", "b.test", "c.test", "d.test", "e.test", "f.test", "g.test", "h.test"}
	for _, n := range names {
		k := l2Key
		k.Name = n
		l2.Put(k, []byte(n), time.Minute)
	}
	if err := l2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		k := l2Key
		k.Name = n
		if v, ok := l2.Get(ctx, k); !ok || string(v) != n {
			t.Fatalf("Get %s on the cluster: %q %v", n, v, ok)
		}
	}
	masters := map[string]bool{}
	for _, a := range addrs {
		rdb := fleet.NewClient([]string{a}, "")
		keys, err := rdb.Do(ctx, "KEYS", "httpdns:l2:*").StringSlice()
		rdb.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 0 {
			masters[a] = true
		}
	}
	if len(masters) < 2 {
		t.Fatalf("8 keys landed on %d master(s); want them spread (no hash tag)", len(masters))
	}
}

// metricValue is the value of the one gauge or counter series of name in reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no single series %s", name)
	return 0
}

// TestL2HungRedisDropsQueuedWrites: once failed writes open the breaker, the writes still queued are dropped,
// not each sent to wait out its timeout, so the queue drains (and Close returns) at once.
func TestL2HungRedisDropsQueuedWrites(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	l2 := newL2(t, []string{addr}, fleet.L2Config{Writers: 1, Queue: 200, TripAfter: 2, WriteTimeout: 50 * time.Millisecond})
	ctx := ctxTimeout(t, 10*time.Second)
	l2.Get(ctx, l2Key) // a pooled connection, so the pause is what the writes meet
	admin := fleet.NewClient([]string{addr}, "")
	defer admin.Close()
	if err := admin.Do(ctx, "CLIENT", "PAUSE", 3000, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		l2.Put(l2Key, []byte{1}, time.Minute)
	}
	start := time.Now()
	if err := l2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("draining 100 writes to a hung Redis took %v; want the breaker to drop them (100 timeouts would be 5s)", d)
	}
	if st := l2.Stats(); st.WriteErrors > 3 || st.Dropped < 97 || !st.BreakerOpen {
		t.Errorf("stats %+v, want 2 or 3 failed writes, the breaker open and the rest dropped", st)
	}
}

// TestL2BoundsValues: a value over MaxL2ValueBytes that someone wrote under a key is a miss, read no further
// than the bound, and Put neither writes one nor an empty value.
func TestL2BoundsValues(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	l2 := newL2(t, []string{addr}, fleet.L2Config{})
	ctx := ctxTimeout(t, 10*time.Second)
	rdb := fleet.NewClient([]string{addr}, "")
	defer rdb.Close()
	if err := rdb.Set(ctx, l2.Key(l2Key), bytes.Repeat([]byte{1}, 8<<20), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if v, ok := l2.Get(ctx, l2Key); ok || v != nil {
		t.Fatalf("Get of an 8 MiB value: %d bytes, %v; want a miss", len(v), ok)
	}
	at := bytes.Repeat([]byte{2}, fleet.MaxL2ValueBytes)
	if err := rdb.Set(ctx, l2.Key(l2Key), at, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if v, ok := l2.Get(ctx, l2Key); !ok || !bytes.Equal(v, at) {
		t.Fatalf("Get of a value of MaxL2ValueBytes: %d bytes, %v; want it whole", len(v), ok)
	}
	other := l2Key
	other.Scope = "9.9.0.0/20"
	l2.Put(other, bytes.Repeat([]byte{3}, fleet.MaxL2ValueBytes+1), time.Minute)
	l2.Put(other, nil, time.Minute)
	if err := l2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Exists(ctx, l2.Key(other)).Result(); err != nil || n != 0 {
		t.Fatalf("after Puts over the bound and empty: %d keys (%v), want none", n, err)
	}
	if st := l2.Stats(); st.Dropped != 2 || st.Hits != 1 || st.Misses != 1 {
		t.Fatalf("stats %+v, want 2 dropped, 1 hit, 1 miss", st)
	}
}
