package upstream

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/buraksezer/consistent"
	"github.com/cespare/xxhash/v2"
)

// Ring parameters. Keys hash to one of the partitions; consistent's bounded-load ring gives every
// partition an owner, none owning more than boundedLoad times the average number of partitions.
const (
	minPartitions = 271 // a prime, consistent's default
	replicas      = 40  // virtual nodes per member
	boundedLoad   = 1.25
)

// xxHasher is the ring's hash; consistent panics without one.
type xxHasher struct{}

// Sum64 hashes b with xxHash64.
func (xxHasher) Sum64(b []byte) uint64 { return xxhash.Sum64(b) }

// ringTable is an immutable snapshot of the routing: for every partition, the nodes in the order a
// key of that partition asks them. The healthy nodes come first, in the partition's preference
// order; ejected nodes follow as a last resort. Ejecting or readmitting a node builds a new table
// from the same preference orders, so only the keys whose first healthy node changed move.
type ringTable struct {
	orders  [][]*node
	healthy []*node
}

// preferences returns every partition's preference order over all configured nodes: the owner that
// consistent's bounded-load ring assigns first, then the others by rendezvous hashing of
// (node, partition).
//
// The ring is built once over all configured nodes and never changed. consistent's Remove re-runs
// the bounded-load assignment, which moves partitions between the remaining nodes too (with four or
// more members and Load 1.25 it does); and GetClosestN's fallbacks depend only on the owner, so every
// key of an ejected node would land on the same neighbour. Rendezvous fallbacks spread them.
func preferences(nodes []*node) (orders [][]*node, err error) {
	parts := max(minPartitions, 4*len(nodes)+1) // consistent panics with fewer partitions than members
	members := make([]consistent.Member, len(nodes))
	for i, n := range nodes {
		members[i] = n
	}
	defer func() {
		if r := recover(); r != nil {
			orders, err = nil, fmt.Errorf("building the upstream ring: %v", r)
		}
	}()
	ring := consistent.New(members, consistent.Config{
		PartitionCount: parts, ReplicationFactor: replicas, Load: boundedLoad, Hasher: xxHasher{},
	})
	orders = make([][]*node, parts)
	for p := range orders {
		owner, ok := ring.GetPartitionOwner(p).(*node)
		if !ok {
			return nil, fmt.Errorf("building the upstream ring: partition %d has no owner", p)
		}
		orders[p] = rendezvous(nodes, owner, p)
	}
	return orders, nil
}

// rendezvous orders nodes for partition p: owner first, the rest by descending hash of (node, p).
func rendezvous(nodes []*node, owner *node, p int) []*node {
	weight := func(n *node) uint64 {
		b := binary.BigEndian.AppendUint64([]byte(n.addr+"|"), uint64(p))
		return xxhash.Sum64(b)
	}
	rest := make([]*node, 0, len(nodes))
	for _, n := range nodes {
		if n != owner {
			rest = append(rest, n)
		}
	}
	slices.SortFunc(rest, func(a, b *node) int { return cmp.Compare(weight(b), weight(a)) })
	return append([]*node{owner}, rest...)
}

// newRingTable snapshots prefs with the nodes' current health.
func newRingTable(prefs [][]*node, nodes []*node) *ringTable {
	t := &ringTable{orders: make([][]*node, len(prefs))}
	for _, n := range nodes {
		if n.healthy.Load() {
			t.healthy = append(t.healthy, n)
		}
	}
	backing := make([]*node, 0, len(prefs)*len(nodes))
	for p, pref := range prefs {
		start := len(backing)
		for _, n := range pref {
			if n.healthy.Load() {
				backing = append(backing, n)
			}
		}
		for _, n := range pref {
			if !n.healthy.Load() {
				backing = append(backing, n)
			}
		}
		t.orders[p] = backing[start:len(backing):len(backing)]
	}
	return t
}

// partition is the key's partition, the same one consistent.FindPartitionID computes with xxHasher,
// without converting the key to bytes.
func (t *ringTable) partition(key string) int {
	return int(xxhash.Sum64String(key) % uint64(len(t.orders)))
}

// order appends to buf the nodes to ask for key, in order, and returns it. The first is the key's
// first healthy node unless that one is overloaded; see pick.
func (t *ringTable) order(key string, buf []*node) []*node {
	buf = append(buf, t.orders[t.partition(key)]...)
	if i := t.pick(buf); i > 0 {
		first := buf[i]
		copy(buf[1:i+1], buf[:i])
		buf[0] = first
	}
	return buf
}

// pick returns the index in order of the first healthy node within the load bound: dynamic bounded
// load (Mirrokni, Thorup and Zadimoghaddam, "Consistent Hashing with Bounded Loads") over the
// attempts in flight. A node is skipped when it runs more than ceil(boundedLoad × average + 1)
// attempts, the average taken over the healthy nodes; the +1 keeps a few concurrent queries from
// breaking a key's affinity at low load. Some healthy node is always within the bound (they cannot
// all be above the average), so a hot set of keys spills over instead of piling up on one node,
// and the spilled queries come back to their node as soon as its load falls.
func (t *ringTable) pick(order []*node) int {
	healthy := len(t.healthy)
	if healthy < 2 {
		return 0
	}
	var total int64
	for _, n := range t.healthy {
		total += n.inflight.Load()
	}
	bound := int64(math.Ceil(boundedLoad*float64(total)/float64(healthy) + 1))
	for i, n := range order[:healthy] {
		if n.inflight.Load() <= bound {
			return i
		}
	}
	return 0
}
