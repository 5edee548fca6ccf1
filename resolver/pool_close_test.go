package resolver

import (
	"context"
	"runtime"
	"testing"
	"time"

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
