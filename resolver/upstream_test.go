package resolver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/cdnsim"
)

// totalQueries is how many queries every node got, check queries included.
func (e *env) totalQueries() int64 {
	var n int64
	for _, s := range e.servers {
		n += s.Queries()
	}
	return n
}

// TestResolverCachesNameFailure: a name every node SERVFAILs costs at most two upstream queries
// (it failed the same way on two nodes: the name's problem), and the failure is cached for
// ServfailTTL: the next request is answered from cache without any upstream query.
func TestResolverCachesNameFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{nodes: 3})
	for _, s := range e.servers {
		s.SetBehavior(cdnsim.ServFail)
	}
	ctx := context.Background()
	q := Query{Name: "img.cdn-a.test", Qtype: TypeA, Client: e.clientOf(t, 0, 1)}
	if _, err := e.r.Resolve(ctx, q); !errors.Is(err, ErrUpstreamUnavailable) {
		t.Fatalf("Resolve of a failing name: %v, want ErrUpstreamUnavailable", err)
	}
	e.settle()
	if got := e.totalQueries(); got > 2 {
		t.Errorf("a name failing everywhere cost %d upstream queries, want at most 2", got)
	}
	before := e.totalQueries()
	for range 5 {
		if _, err := e.r.Resolve(ctx, q); !errors.Is(err, ErrUpstreamUnavailable) {
			t.Fatalf("Resolve of a cached failure: %v, want ErrUpstreamUnavailable", err)
		}
	}
	e.settle()
	if got := e.totalQueries() - before; got != 0 {
		t.Errorf("the cached failure cost %d more upstream queries, want 0", got)
	}
	// Past ServfailTTL the name is asked again, and answered once the nodes are well.
	for _, s := range e.servers {
		s.SetBehavior(cdnsim.Normal)
	}
	e.clock.Advance(e.r.cfg.ServfailTTL + time.Second)
	if _, err := e.r.Resolve(ctx, q); err != nil {
		t.Fatalf("Resolve after ServfailTTL: %v", err)
	}
	if e.r.Ready() != nil {
		t.Errorf("a name's failures made the resolver not ready: %v", e.r.Ready())
	}
}

// TestResolverNewNamesCost: on a healthy cluster, resolving 10 new names at once costs at most 1.5
// upstream queries a name, even when the nodes answer new names far slower than the names they
// had cached (the recursive servers resolve them from scratch), so every query is late past the
// nodes' p95 and could be hedged.
func TestResolverNewNamesCost(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{nodes: 3, upstream: time.Second, request: 3 * time.Second})
	ctx := context.Background()
	client := e.clientOf(t, 0, 1)
	// Warm-up: enough quick replies from every node for a p95 (hedging needs 20 samples a node).
	for i := range 150 {
		if _, err := e.r.Resolve(ctx, Query{Name: fmt.Sprintf("warm-%d.test", i), Qtype: TypeA, Client: client}); err != nil {
			t.Fatal(err)
		}
	}
	e.settle()
	for _, s := range e.servers {
		s.SetDelay(30 * time.Millisecond)
	}
	var names []string
	for _, d := range e.world.Domains() {
		if len(names) < 10 {
			names = append(names, d.Name)
		}
	}
	if len(names) < 10 {
		t.Fatalf("the world has %d names, want 10", len(names))
	}
	before := e.totalQueries()
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Go(func() {
			if _, err := e.r.Resolve(ctx, Query{Name: name, Qtype: TypeA, Client: client}); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	wg.Wait()
	e.settle()
	sent := e.totalQueries() - before
	t.Logf("%d new names: %d upstream queries", len(names), sent)
	if limit := int64(len(names) * 3 / 2); sent > limit {
		t.Errorf("%d new names cost %d upstream queries, want at most %d", len(names), sent, limit)
	}
}

// TestResolverUpstreamBusy: past UpstreamMaxInflight a client's miss waits briefly, then fails with
// ErrUpstreamBusy, which is not cached; background work is refused at once.
func TestResolverUpstreamBusy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{nodes: 1, upstream: 2 * time.Second, request: 3 * time.Second})
	cfg := e.r.cfg
	cfg.Registerer = nil
	cfg.UpstreamMaxInflight = 1
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ctx := context.Background()
	client := e.clientOf(t, 0, 1)
	e.servers[0].SetDelay(400 * time.Millisecond)
	done := make(chan error, 1)
	go func() {
		_, err := r.Resolve(ctx, Query{Name: "img.cdn-a.test", Qtype: TypeA, Client: client})
		done <- err
	}()
	for deadline := time.Now().Add(2 * time.Second); e.servers[0].Queries() == 0; { // the slot is taken once the query reaches the node
		if time.Now().After(deadline) {
			t.Fatal("the first miss never reached the node")
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	_, err = r.Resolve(ctx, Query{Name: "www.cdn-a.test", Qtype: TypeA, Client: client})
	if !errors.Is(err, ErrUpstreamBusy) {
		t.Fatalf("a miss past the cap: %v, want ErrUpstreamBusy", err)
	}
	if d := time.Since(start); d < 90*time.Millisecond || d > 350*time.Millisecond {
		t.Errorf("the miss gave up after %v, want about 100ms", d)
	}
	start = time.Now()
	q := newQuery("www.cdn-a.test", TypeA, ecsSource(client))
	if _, err := r.exchange(ctx, q, "www.cdn-a.test|k", KindPassive); !errors.Is(err, ErrUpstreamBusy) {
		t.Fatalf("a refresh past the cap: %v, want ErrUpstreamBusy", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("a refresh waited %v for a slot, want no wait", d)
	}
	if err := <-done; err != nil {
		t.Fatalf("the miss holding the slot: %v", err)
	}
	e.servers[0].SetDelay(0)
	if _, err := r.Resolve(ctx, Query{Name: "www.cdn-a.test", Qtype: TypeA, Client: client}); err != nil {
		t.Errorf("the busy name once a slot is free: %v (a busy failure must not be cached)", err)
	}
}
