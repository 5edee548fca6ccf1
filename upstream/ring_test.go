package upstream

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/buraksezer/consistent"
)

func TestPoolEjectionMovesOnlyItsKeys(t *testing.T) {
	t.Parallel()
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("name-%d.test|scope-%d", i%97, i)
	}
	for _, nodes := range []int{2, 3, 5, 8} {
		t.Run(fmt.Sprintf("%d nodes", nodes), func(t *testing.T) {
			t.Parallel()
			p := offlinePool(t, nodes)
			before := owners(p, keys)
			gone := p.nodes[nodes/2]
			p.eject(gone, reasonErrors)
			if gone.healthy.Load() {
				t.Fatal("node not ejected")
			}
			after := owners(p, keys)
			takers := map[*node]int{}
			for i, k := range keys {
				switch {
				case before[i] != gone && after[i] != before[i]:
					t.Fatalf("key %s of a healthy node moved from %s to %s", k, before[i], after[i])
				case before[i] == gone && after[i] == gone:
					t.Fatalf("key %s stayed on the ejected node", k)
				case before[i] == gone:
					takers[after[i]]++
				}
			}
			// Its keys spread over the others instead of landing on one neighbour.
			if want := min(nodes-1, 3); len(takers) < want {
				t.Errorf("the ejected node's keys went to %d nodes, want at least %d", len(takers), want)
			}
			p.readmit(gone, time.Millisecond)
			if back := owners(p, keys); !slices.Equal(back, before) {
				t.Error("readmission did not restore every key's node")
			}
		})
	}
}

func TestPoolRingMatchesConsistent(t *testing.T) {
	t.Parallel()
	p := offlinePool(t, 5)
	members := make([]consistent.Member, len(p.nodes))
	for i, n := range p.nodes {
		members[i] = n
	}
	ring := consistent.New(members, consistent.Config{PartitionCount: minPartitions, ReplicationFactor: replicas,
		Load: boundedLoad, Hasher: xxHasher{}})
	table := p.table.Load()
	owned := map[string]int{}
	for i := range 1000 {
		k := fmt.Sprintf("k%d", i)
		if got, want := table.partition(k), ring.FindPartitionID([]byte(k)); got != want {
			t.Fatalf("partition(%q) = %d, consistent says %d", k, got, want)
		}
	}
	for part, order := range table.orders {
		if order[0].addr != ring.GetPartitionOwner(part).String() {
			t.Fatalf("partition %d: first node %s, consistent's owner %s", part, order[0], ring.GetPartitionOwner(part))
		}
		owned[order[0].addr]++
	}
	// consistent's bounded load: no node owns more than Load times the average share of partitions.
	limit := int(math.Ceil(float64(minPartitions/len(p.nodes)) * boundedLoad))
	for addr, n := range owned {
		if n > limit {
			t.Errorf("%s owns %d partitions, bound %d", addr, n, limit)
		}
	}
}

func TestPoolBoundedLoadPick(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		inflight []int64 // by position in the key's order
		ejected  []int   // positions ejected
		want     []int   // the new order, as positions of the old one
	}{
		{"idle", []int64{0, 0, 0}, nil, []int{0, 1, 2}},
		{"a little busy keeps its keys", []int64{3, 0, 0}, nil, []int{0, 1, 2}},
		{"over the bound spills to the next", []int64{4, 0, 0}, nil, []int{1, 0, 2}},
		{"busy everywhere stays", []int64{10, 10, 0}, nil, []int{0, 1, 2}},
		{"two over the bound", []int64{12, 12, 0}, nil, []int{2, 0, 1}},
		{"alone it takes everything", []int64{50, 0, 0}, []int{1, 2}, []int{0, 1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := offlinePool(t, 3)
			const key = "img.cdn-a.test|block-1"
			base := p.order(key, nil)
			for _, i := range tc.ejected {
				base[i].healthy.Store(false)
			}
			p.table.Store(newRingTable(p.prefs, p.nodes))
			for i, n := range base {
				n.inflight.Store(tc.inflight[i])
			}
			got := p.order(key, nil)
			for i, w := range tc.want {
				if got[i] != base[w] {
					t.Fatalf("order = %v, want positions %v of %v", got, tc.want, base)
				}
			}
		})
	}
}

func TestPoolNeverEjectsLastNode(t *testing.T) {
	t.Parallel()
	p := offlinePool(t, 3)
	for _, n := range p.nodes {
		p.eject(n, reasonErrors)
	}
	healthy := p.table.Load().healthy
	if len(healthy) != 1 || !healthy[0].healthy.Load() {
		t.Fatalf("healthy after ejecting all: %v", healthy)
	}
	if got := p.order("k", nil); len(got) != 3 || got[0] != healthy[0] {
		t.Errorf("order %v: want the healthy node first, then the ejected ones", got)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no nodes", Config{}},
		{"bad address", Config{Addrs: []string{"127.0.0.1"}}},
		{"duplicate", Config{Addrs: []string{"127.0.0.1:53", "127.0.0.1:53"}}},
		{"bad check name", Config{Addrs: []string{"127.0.0.1:53"}, CheckName: "a..b"}},
		{"error rate over 1", Config{Addrs: []string{"127.0.0.1:53"}, EjectErrorRate: 1.5}},
		{"slow factor under 1", Config{Addrs: []string{"127.0.0.1:53"}, SlowFactor: 0.5}},
		{"negative max inflight", Config{Addrs: []string{"127.0.0.1:53"}, MaxInflight: -1}},
		{"negative inflight wait", Config{Addrs: []string{"127.0.0.1:53"}, InflightWait: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := tc.cfg.Validate(); err == nil {
				t.Error("Validate accepted")
			}
			if p, err := New(tc.cfg); err == nil {
				p.Close()
				t.Error("New accepted")
			}
		})
	}
	if _, err := New(Config{}); !errors.Is(err, ErrNoUpstream) {
		t.Errorf("New without nodes: %v, want ErrNoUpstream", err)
	}
	ok := Config{Addrs: []string{"127.0.0.1:53", "[::1]:53"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
}

// BenchmarkPoolOrder measures routing one key: partition, snapshot order, bounded-load pick.
//
//	go test -run='^$' -bench=PoolOrder -benchmem ./upstream/
func BenchmarkPoolOrder(b *testing.B) {
	p := offlinePool(b, 5)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("img.cdn-a.test|block-%d", i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var buf [8]*node
		i := 0
		for pb.Next() {
			if len(p.order(keys[i%len(keys)], buf[:0])) != 5 {
				b.Error("short order")
				return
			}
			i++
		}
	})
}
