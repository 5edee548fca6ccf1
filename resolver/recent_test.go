package resolver

import (
	"strconv"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cache"
)

func TestRecentEvictsColdestWhenFull(t *testing.T) {
	t.Parallel()
	const max = recentShards * 4
	tr := newRecent(max)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key := func(i int) cache.Key {
		return cache.Key{Name: "n" + strconv.Itoa(i) + ".test", Qtype: TypeA, Tier: cache.TierSubnet, Scope: "1.2.3.0/24"}
	}
	req := &request{name: "x.test", qtype: TypeA}
	// Fill the tracker far past its bound; every key newer than the last.
	for i := range max * 4 {
		tr.touch(key(i), req, start.Add(time.Duration(i)*time.Second), false, true)
		if _, ok := tr.get(key(i)); !ok {
			t.Fatalf("key %d refused by a full tracker", i)
		}
	}
	if n := tr.len(); n > max {
		t.Errorf("tracker holds %d keys, bound %d", n, max)
	}
	if e := tr.evicts.Load(); e == 0 {
		t.Error("no evictions counted")
	}
	// Evictions take cold keys: most of the newest quarter must still be there, almost none of
	// the oldest.
	newest, oldest := 0, 0
	for i := range max {
		if _, ok := tr.get(key(3*max + i)); ok {
			newest++
		}
		if _, ok := tr.get(key(i)); ok {
			oldest++
		}
	}
	if newest < max*3/4 || oldest > max/8 {
		t.Errorf("after eviction: %d of the newest %d keys and %d of the oldest kept", newest, max, oldest)
	}
}

func TestRecentDropKeepsSize(t *testing.T) {
	t.Parallel()
	tr := newRecent(1000)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := cache.Key{Name: "a.test", Qtype: TypeA, Tier: cache.TierSubnet, Scope: "1.2.3.0/24"}
	tr.touch(k, &request{}, now, false, true)
	tr.touch(k, &request{}, now, true, true)
	if tr.len() != 1 {
		t.Fatalf("len %d, want 1", tr.len())
	}
	tr.drop(k, now)
	if tr.len() != 0 {
		t.Fatalf("len %d after drop, want 0", tr.len())
	}
}

func TestRecentSmallBoundRefusesNoKey(t *testing.T) {
	t.Parallel()
	const max = 10 // fewer than the shards: track_keys may be set as low as 1
	tr := newRecent(max)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	req := &request{name: "x.test", qtype: TypeA}
	for i := range 4 * recentShards {
		k := cache.Key{Name: "n" + strconv.Itoa(i) + ".test", Qtype: TypeA, Tier: cache.TierSubnet, Scope: "1.2.3.0/24"}
		tr.touch(k, req, start.Add(time.Duration(i)*time.Second), false, true)
		if _, ok := tr.get(k); !ok {
			t.Fatalf("key %d refused by a tracker of %d keys", i, max)
		}
		if n := tr.len(); n > max {
			t.Fatalf("tracker holds %d keys, bound %d", n, max)
		}
	}
}
