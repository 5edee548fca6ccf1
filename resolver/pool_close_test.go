package resolver

import (
	"context"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/internal/cdnsim"
)

// TestResolverCloseLeavesNoGoroutines runs a resolver with its upstream checker ticking, a silent
// node (timeouts, retries, checks confirming them) and background refreshes, closes it, and expects
// the goroutine count back where it was. It is not parallel: it counts the process's goroutines.
func TestResolverCloseLeavesNoGoroutines(t *testing.T) {
	e := newEnv(t, envOptions{nodes: 3, upstream: 200 * time.Millisecond})
	cfg := e.r.cfg
	cfg.Registerer = nil
	cfg.HealthCheckInterval = 5 * time.Millisecond // the checker runs for real here
	before := runtime.NumGoroutine()

	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.servers[1].SetBehavior(cdnsim.Silent)
	ctx := context.Background()
	for i := range 12 {
		if _, err := r.Resolve(ctx, Query{Name: "img.cdn-a.test", Qtype: TypeA, Client: e.clientOf(t, i, 1)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	// Servers still finish the replies they were sleeping on; give them a bounded while.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before,
				buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lateSplits records split signals, failing the test for any that arrives after closed is set:
// a sink such as the split log is closed once the resolver's Close returns.
type lateSplits struct {
	t      *testing.T
	closed atomic.Bool
	got    chan struct{}
}

func (s *lateSplits) RecordSplit(SplitSignal) {
	if s.closed.Load() {
		s.t.Error("split signal recorded after Close returned")
		close(s.got)
	}
}

func TestCloseEndsMissesThatOutliveTheirClient(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	f := &scriptedDNS{}
	f.set(func(netip.Prefix) (netip.Addr, uint8, int) {
		<-release
		return netip.MustParseAddr("10.0.0.1"), 26, 0 // finer than the /24 block: a split signal
	})
	c, err := cache.New(cache.Config{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	sink := &lateSplits{t: t, got: make(chan struct{})}
	r, err := New(Config{Upstreams: []string{startScripted(t, f)}, Locator: fixedLoc{}, Cache: c,
		Policy: fixedPolicy{Rule{Tier: cache.TierSubnet}}, Splits: sink, HedgeMin: -1, SweepInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// The client gives up; the flight's leader goes on without it.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.Resolve(ctx, Query{Name: "x.test", Qtype: TypeA, Client: netip.MustParseAddr("1.5.1.1")}); err == nil {
		t.Fatal("answered although the upstream holds its reply")
	}
	r.Close()
	sink.closed.Store(true)
	close(release) // the upstream answers now
	select {
	case <-sink.got:
	case <-time.After(time.Second): // the leader's attempt timeout is 800 ms
	}
}
