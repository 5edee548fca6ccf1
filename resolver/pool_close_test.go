package resolver

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/cdnsim"
)

// TestResolverCloseLeavesNoGoroutines runs a resolver with its checker ticking, a silent node,
// a slow node and hedged queries, closes it, and expects the goroutine count back where it was.
// It is not parallel: it counts the process's goroutines.
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
	p := r.pool
	slow, silent := p.nodes[0], p.nodes[1]
	pe := &poolEnv{servers: e.servers, pool: p}
	keys := pe.keysOf(slow, hedgeMinSamples+3)
	for _, k := range keys[:hedgeMinSamples] {
		pe.ask(t, k)
	}
	e.server(silent).SetBehavior(cdnsim.Silent)
	e.server(slow).SetDelay(30 * time.Millisecond)
	for _, k := range keys[hedgeMinSamples:] {
		pe.ask(t, k) // hedged: the slow node's attempt is cancelled
	}
	for _, k := range pe.keysOf(silent, 3) {
		pe.ask(t, k) // retried on the next node after a timeout
	}
	ctx := context.Background()
	for i := range 4 {
		if _, err := r.Resolve(ctx, Query{Name: "img.cdn-a.test", Qtype: TypeA, Client: e.clientOf(t, i, 1)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	// Servers still finish the slow replies they were sleeping on; give them a bounded while.
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

// server is the authoritative server behind n.
func (e *env) server(n *upstreamNode) *cdnsim.Server {
	for _, s := range e.servers {
		if s.Addr() == n.addr {
			return s
		}
	}
	panic("no server for " + n.addr)
}
