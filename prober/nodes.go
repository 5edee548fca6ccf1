package prober

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// A node that fails downAfter attempts in a row is passed over for
// downFor, so a dead or silent node costs a few timeouts rather than one
// in every probe it would have been asked first.
const (
	downAfter = 5
	downFor   = 5 * time.Second
)

// nodes are the upstreams and how they have been doing. Safe for
// concurrent use.
type nodes struct {
	addrs []string
	now   func() time.Time

	mu        sync.Mutex
	failRun   []int
	downUntil []time.Time
	lastErr   []error
}

func newNodes(addrs []string, now func() time.Time) *nodes {
	n := len(addrs)
	return &nodes{addrs: addrs, now: now, failRun: make([]int, n), downUntil: make([]time.Time, n), lastErr: make([]error, n)}
}

// pick returns the node for an attempt (0, 1, ...) of a probe whose first
// choice is start: the attempt-th node in ring order from start among
// those up, or among all when none is up.
func (ns *nodes) pick(start, attempt int) int {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	now := ns.now()
	var up []int
	for i := range ns.addrs {
		j := (start + i) % len(ns.addrs)
		if !now.Before(ns.downUntil[j]) {
			up = append(up, j)
		}
	}
	if len(up) == 0 {
		return (start + attempt) % len(ns.addrs)
	}
	return up[attempt%len(up)]
}

// report records the outcome of an attempt on node i.
func (ns *nodes) report(i int, err error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if err == nil {
		ns.failRun[i] = 0
		return
	}
	ns.lastErr[i] = err
	ns.failRun[i]++
	if ns.failRun[i] >= downAfter {
		ns.downUntil[i] = ns.now().Add(downFor)
	}
}

// errors describes each node's last error, for ErrNoUpstream.
func (ns *nodes) errors() string {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	var parts []string
	for i, a := range ns.addrs {
		if ns.lastErr[i] != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", a, ns.lastErr[i]))
		}
	}
	return strings.Join(parts, "; ")
}
