package fleet_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/internal/redistest"
)

// On a Redis Cluster of three masters the store works the same: each document is one key, so its scripts run
// on the master that owns the key's slot, and the masters pass a PUBLISH on to the subscriber's node.
func TestClusterWorksTheSame(t *testing.T) {
	t.Parallel()
	addrs := redistest.StartCluster(t)
	newClusterStore := func() *fleet.Store {
		rdb := fleet.NewClient(addrs, "")
		t.Cleanup(func() { rdb.Close() })
		s, err := fleet.New(rdb, fleet.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	watcher, a, b := newClusterStore(), newClusterStore(), newClusterStore()
	sub, changes := startWatch(t, watcher)
	waitFor(t, sub, "subscription")
	ctx := ctxTimeout(t, 20*time.Second)

	// Enough kinds that their keys land on different masters.
	kinds := []string{"whitelist", "accounts", "cidrdb", "k1", "k2", "k3", "k4", "k5"}
	for _, kind := range kinds {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []*fleet.Store{a, b} {
			wg.Go(func() { _, errs[i] = s.Put(ctx, kind, fmt.Appendf(nil, "%s from %d", kind, i), "n", 0) })
		}
		wg.Wait()
		var ce *fleet.ConflictError
		if !((errs[0] == nil && errors.As(errs[1], &ce)) || (errs[1] == nil && errors.As(errs[0], &ce))) || ce.Current != 1 {
			t.Fatalf("%s: concurrent Puts returned %v and %v; want one nil and one ConflictError at 1", kind, errs[0], errs[1])
		}
		if got := waitFor(t, changes, "notification"); got != (change{kind, 1}) {
			t.Fatalf("notification %+v, want %s 1", got, kind)
		}
		d, err := watcher.Get(ctx, kind)
		if err != nil || d.Version != 1 || d.SHA256 != fleet.Sum(d.Body) {
			t.Fatalf("%s: Get %+v, %v", kind, d, err)
		}
		if wrote, err := watcher.Restore(ctx, d); err != nil || wrote {
			t.Fatalf("%s: Restore of the same version wrote %v, err %v; want false, nil", kind, wrote, err)
		}
	}
}
