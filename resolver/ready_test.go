package resolver

import (
	"errors"
	"testing"
	"time"
)

func TestReady(t *testing.T) {
	t.Parallel()
	p, err := newPool(poolConfig{addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}, attempt: 100 * time.Millisecond}, newMetrics(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	r := &Resolver{pool: p}
	if err := r.Ready(); err != nil {
		t.Fatalf("Ready with every node healthy = %v, want nil", err)
	}
	for _, n := range r.pool.nodes {
		n.healthy.Store(false)
	}
	r.pool.table.Store(newRingTable(r.pool.prefs, r.pool.nodes))
	if err := r.Ready(); !errors.Is(err, ErrNoHealthyUpstream) {
		t.Fatalf("Ready with every node ejected = %v, want ErrNoHealthyUpstream", err)
	}
}
