package cache

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is the injected clock: time moves only when a test says so.
type fakeClock struct{ nanos atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.nanos.Store(epoch.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.nanos.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.nanos.Add(int64(d)) }

// newTestCache returns a cache on a fake clock, closed when the test ends.
func newTestCache(t testing.TB, cfg Config) (*Cache, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	cfg.Now = clock.Now
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c, clock
}

// answer is a fresh one-address entry fetched now.
func answer(now time.Time, ttl uint32, ip string) Entry {
	return Entry{IPs: []netip.Addr{netip.MustParseAddr(ip)}, TTL: ttl, Fetched: now}
}

// mustSet stores e under k and applies the write.
func mustSet(t testing.TB, c *Cache, k Key, e Entry) {
	t.Helper()
	if !c.Set(k, e) {
		t.Fatalf("Set(%+v) = false", k)
	}
	c.Wait()
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   Config
		wants []string // substrings of the joined error; none: valid
	}{
		{"zero value", Config{}, nil},
		{"minimum budget", Config{MaxBytes: MinMaxBytes}, nil},
		{"grace equals window", Config{StaleWindow: time.Minute, RefreshGrace: time.Minute}, nil},
		{"negative budget", Config{MaxBytes: -1}, []string{"MaxBytes -1"}},
		{"tiny budget", Config{MaxBytes: 100}, []string{"MaxBytes 100"}},
		{"negative window", Config{StaleWindow: -time.Second}, []string{"StaleWindow -1s"}},
		{"grace past window", Config{StaleWindow: time.Second, RefreshGrace: time.Minute}, []string{"RefreshGrace 1m0s is longer"}},
		{"all at once", Config{MaxBytes: 1, StaleWindow: -1, RefreshGrace: -1},
			[]string{"MaxBytes 1", "StaleWindow -1ns", "RefreshGrace -1ns is negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(tt.cfg)
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				c.Close()
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New error = %v, want ErrInvalidConfig", err)
			}
			for _, want := range tt.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestGetClassifies(t *testing.T) {
	t.Parallel()
	const grace, window = 30 * time.Second, time.Hour
	tests := []struct {
		name      string
		elapsed   time.Duration // since fetch; the TTL is 60 s
		want      Result
		wantEntry bool
		remaining uint32
	}{
		{"fresh", 0, Hit, true, 60},
		{"counting down", 45*time.Second + time.Millisecond, Hit, true, 15},
		{"last moment", 60*time.Second - time.Nanosecond, Hit, true, 1},
		{"just expired", 60 * time.Second, Stale, true, 0},
		{"end of grace", 60*time.Second + grace, Stale, true, 0},
		{"past grace", 60*time.Second + grace + time.Nanosecond, Miss, true, 0},
		{"end of stale window", 60*time.Second + window, Miss, true, 0},
		{"past stale window", 60*time.Second + window + time.Nanosecond, Miss, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, clock := newTestCache(t, Config{MaxBytes: 1 << 20, StaleWindow: window, RefreshGrace: grace})
			k := Key{Name: "api.example.com", Qtype: 1, Tier: TierSubnet, Scope: "1.2.0.0/20"}
			mustSet(t, c, k, answer(clock.Now(), 60, "192.0.2.1"))
			clock.Advance(tt.elapsed)

			e, res, ok := c.Get(k)
			if res != tt.want || ok != tt.wantEntry {
				t.Fatalf("Get = (%v, %v), want (%v, %v)", res, ok, tt.want, tt.wantEntry)
			}
			if !ok {
				if e.IPs != nil || e.TTL != 0 {
					t.Errorf("Get returned %+v with ok=false", e)
				}
				return
			}
			if e.IPs[0] != netip.MustParseAddr("192.0.2.1") || e.TTL != 60 {
				t.Errorf("Get entry = %+v", e)
			}
			if got := e.Remaining(clock.Now()); got != tt.remaining {
				t.Errorf("Remaining = %d, want %d", got, tt.remaining)
			}
			if pe, pok := c.Peek(k); pok != ok || pe.TTL != e.TTL {
				t.Errorf("Peek = (%+v, %v), Get = (%+v, %v)", pe, pok, e, ok)
			}
		})
	}
}

func TestMissWhenAbsent(t *testing.T) {
	t.Parallel()
	c, _ := newTestCache(t, Config{MaxBytes: 1 << 20})
	if e, res, ok := c.Get(Key{Name: "absent.example", Qtype: 1, Tier: TierGlobal}); res != Miss || ok || e.IPs != nil {
		t.Errorf("Get(absent) = (%+v, %v, %v)", e, res, ok)
	}
	if _, ok := c.Peek(Key{Name: "absent.example", Qtype: 1, Tier: TierGlobal}); ok {
		t.Errorf("Peek(absent) = true")
	}
}

func TestKeysAreSeparate(t *testing.T) {
	t.Parallel()
	c, clock := newTestCache(t, Config{MaxBytes: 1 << 20})
	keys := []Key{
		{Name: "www.example.com", Qtype: 1, Tier: TierSubnet, Scope: "1.2.0.0/20"},
		{Name: "www.example.com", Qtype: 1, Tier: TierSubnet, Scope: "1.2.16.0/20"},
		{Name: "www.example.com", Qtype: 28, Tier: TierSubnet, Scope: "1.2.0.0/20"},
		{Name: "www.example.com", Qtype: 1, Tier: TierCityISP, Scope: "1.2.0.0/20"},
		{Name: "www.example.com", Qtype: 1, Tier: TierCityISP, Scope: "CN/Beijing/Telecom"},
		{Name: "www.example.com", Qtype: 1, Tier: TierGlobal},
		{Name: "img.example.com", Qtype: 1, Tier: TierGlobal},
	}
	for i, k := range keys {
		mustSet(t, c, k, answer(clock.Now(), 60, fmt.Sprintf("192.0.2.%d", i+1)))
	}
	for i, k := range keys {
		e, res, ok := c.Get(k)
		want := netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", i+1))
		if res != Hit || !ok || e.IPs[0] != want {
			t.Errorf("Get(%+v) = (%v, %v, %v), want %v", k, e.IPs, res, ok, want)
		}
	}
	if got := [3]int64{c.Len(TierSubnet), c.Len(TierCityISP), c.Len(TierGlobal)}; got != [3]int64{3, 2, 2} {
		t.Errorf("Len per tier = %v, want [3 2 2]", got)
	}
}

func TestSetRefuses(t *testing.T) {
	t.Parallel()
	c, clock := newTestCache(t, Config{MaxBytes: 1 << 20, StaleWindow: time.Hour, RefreshGrace: time.Second})
	dead := answer(clock.Now().Add(-2*time.Hour), 60, "192.0.2.1")
	tests := []struct {
		name string
		k    Key
		e    Entry
	}{
		{"invalid tier", Key{Name: "a.example", Qtype: 1}, answer(clock.Now(), 60, "192.0.2.1")},
		{"past stale window", Key{Name: "a.example", Qtype: 1, Tier: TierGlobal}, dead},
		{"no fetch time", Key{Name: "a.example", Qtype: 1, Tier: TierGlobal}, Entry{TTL: 60}},
	}
	for _, tt := range tests {
		if c.Set(tt.k, tt.e) {
			t.Errorf("%s: Set = true", tt.name)
		}
	}
	c.Wait()
	if _, _, ok := c.Get(Key{Name: "a.example", Qtype: 1, Tier: TierGlobal}); ok {
		t.Errorf("refused entry was stored")
	}
	if n := c.Len(TierGlobal) + c.Len(0); n != 0 {
		t.Errorf("Len = %d after refused Sets", n)
	}
	if _, res, ok := c.Get(Key{Name: "a.example", Qtype: 1}); res != Miss || ok {
		t.Errorf("Get(invalid tier) = (%v, %v)", res, ok)
	}
}

func TestReturnedEntryIsACopy(t *testing.T) {
	t.Parallel()
	c, clock := newTestCache(t, Config{MaxBytes: 1 << 20})
	k := Key{Name: "a.example", Qtype: 1, Tier: TierGlobal}
	e := answer(clock.Now(), 60, "192.0.2.1")
	mustSet(t, c, k, e)
	e.IPs[0] = netip.MustParseAddr("203.0.113.9") // the caller reuses its slice
	got, _, _ := c.Get(k)
	got.TTL = 1 // changing the returned struct is the caller's business
	again, _, _ := c.Get(k)
	if again.IPs[0] != netip.MustParseAddr("192.0.2.1") || again.TTL != 60 {
		t.Errorf("cached entry changed: %+v", again)
	}
}

// TestCollisionIsAMiss stores an entry under another key's ristretto hash, as
// a 64-bit hash collision would, and checks that Get does not serve it.
func TestCollisionIsAMiss(t *testing.T) {
	t.Parallel()
	c, clock := newTestCache(t, Config{MaxBytes: 1 << 20})
	asked := Key{Name: "a.example", Qtype: 1, Tier: TierGlobal}
	other := newItem(Key{Name: "b.example", Qtype: 1, Tier: TierGlobal}, answer(clock.Now(), 60, "192.0.2.1"))
	c.entries[TierGlobal].Add(1)
	if !c.rc.SetWithTTL(asked.hash(), other, other.cost(), time.Hour) {
		t.Fatal("SetWithTTL = false")
	}
	c.Wait()
	if e, res, ok := c.Get(asked); ok || res != Miss {
		t.Errorf("Get = (%+v, %v, %v), want a miss", e, res, ok)
	}
}

func TestCloseEmpties(t *testing.T) {
	t.Parallel()
	c, clock := newTestCache(t, Config{MaxBytes: 1 << 20})
	for i := range 10 {
		mustSet(t, c, Key{Name: fmt.Sprintf("n%d.example", i), Qtype: 1, Tier: TierCityISP, Scope: "CN/x/y"}, answer(clock.Now(), 60, "192.0.2.1"))
	}
	// Queued, not yet applied: Close must still account for these.
	for i := range 10 {
		c.Set(Key{Name: fmt.Sprintf("q%d.example", i), Qtype: 1, Tier: TierSubnet, Scope: "1.2.0.0/20"}, answer(clock.Now(), 60, "192.0.2.1"))
	}
	c.Close()
	c.Close()
	if a, b := c.Len(TierCityISP), c.Len(TierSubnet); a != 0 || b != 0 {
		t.Errorf("Len after Close = %d, %d; want 0", a, b)
	}
	if c.Set(Key{Name: "late.example", Qtype: 1, Tier: TierGlobal}, answer(clock.Now(), 60, "192.0.2.1")) {
		t.Errorf("Set after Close = true")
	}
	if _, res, ok := c.Get(Key{Name: "n1.example", Qtype: 1, Tier: TierCityISP, Scope: "CN/x/y"}); ok || res != Miss {
		t.Errorf("Get after Close = (%v, %v)", res, ok)
	}
}
