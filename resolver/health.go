package resolver

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Health bookkeeping of one upstream node. Latencies are measured on the monotonic wall clock (they
// are real network round trips); the windows that decide ejection use the pool's injected clock, so
// tests can age them without sleeping.
const (
	healthAttempts   = 20               // outcomes remembered per node for the error rate
	healthWindow     = 30 * time.Second // outcomes older than this no longer count
	ejectMinAttempts = 10               // an error rate needs at least this many recent outcomes
	ewmaWeight       = 0.2              // weight of a new latency sample in the EWMA
	slowMinSamples   = 5                // a node needs this many latency samples before it can be slow
	slowFloor        = 50 * time.Millisecond
	latencySamples   = 128 // successful latencies kept for the hedging p95
	hedgeMinSamples  = 20  // fewer samples give no p95, so no hedging
	p95Every         = 8   // the p95 is recomputed every this many samples
)

// outcome is one attempt's result as the error rate counts it.
type outcome struct {
	at     time.Time
	failed bool
}

// upstreamNode is one recursive server and what live traffic and active checks say about it. The
// fields read on every query (in-flight count, EWMA, p95, health) are atomics; the windows behind
// them are guarded by mu.
type upstreamNode struct {
	addr     string
	inflight atomic.Int64 // attempts running now, for the bounded-load pick
	ewma     atomic.Int64 // latency EWMA in nanoseconds; 0 before the first sample
	p95      atomic.Int64 // p95 of recent successful latencies in nanoseconds; 0 with too few samples
	healthy  atomic.Bool  // in the ring; changed only under pool.mu
	suspect  atomic.Bool  // lost a hedge and has not answered in time since: checked every round

	mu        sync.Mutex
	outcomes  [healthAttempts]outcome
	nOutcomes int // valid entries in outcomes, at most healthAttempts
	lat       [latencySamples]time.Duration
	nLat      int // samples taken since the last reset; lat holds the last min(nLat, latencySamples)
	nEWMA     int // samples in the EWMA since the last reset
	streak    int // consecutive good checks while ejected
}

func newUpstreamNode(addr string) *upstreamNode {
	n := &upstreamNode{addr: addr}
	n.healthy.Store(true)
	return n
}

// String names the node by its address; it makes *upstreamNode a consistent.Member.
func (n *upstreamNode) String() string { return n.addr }

// recordSuccess notes a good reply that took d.
func (n *upstreamNode) recordSuccess(now time.Time, d time.Duration) {
	n.suspect.Store(false)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addOutcome(now, false)
	n.addEWMA(d)
	n.lat[n.nLat%latencySamples] = d
	n.nLat++
	if n.nLat >= hedgeMinSamples && (n.nLat%p95Every == 0 || n.nLat == hedgeMinSamples) {
		n.p95.Store(int64(n.percentile95()))
	}
}

// recordFailure notes a failed attempt and reports whether the node's recent error rate reaches
// rate over enough attempts to eject it.
func (n *upstreamNode) recordFailure(now time.Time, rate float64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addOutcome(now, true)
	recent, failed := n.errorCounts(now)
	return recent >= ejectMinAttempts && float64(failed) >= rate*float64(recent)
}

// recordLatency adds d to the EWMA only: an active check's round trip, which says how slow the node
// is but is no sample of real queries for the hedging p95.
func (n *upstreamNode) recordLatency(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addEWMA(d)
}

// recordLowerBound notes an attempt abandoned after d because another node answered first: the node's
// latency is at least d, which raises the EWMA when it is above it and says nothing otherwise.
func (n *upstreamNode) recordLowerBound(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if int64(d) > n.ewma.Load() {
		n.addEWMA(d)
	}
}

func (n *upstreamNode) addOutcome(now time.Time, failed bool) {
	copy(n.outcomes[1:], n.outcomes[:healthAttempts-1])
	n.outcomes[0] = outcome{at: now, failed: failed}
	n.nOutcomes = min(n.nOutcomes+1, healthAttempts)
}

// errorCounts returns how many outcomes fall in the health window ending at now, and how many of
// them failed.
func (n *upstreamNode) errorCounts(now time.Time) (recent, failed int) {
	for _, o := range n.outcomes[:n.nOutcomes] {
		if now.Sub(o.at) > healthWindow {
			break // newest first: the rest are older still
		}
		recent++
		if o.failed {
			failed++
		}
	}
	return recent, failed
}

func (n *upstreamNode) addEWMA(d time.Duration) {
	old := n.ewma.Load()
	if n.nEWMA == 0 || old == 0 {
		n.ewma.Store(max(int64(d), 1))
	} else {
		n.ewma.Store(max(old+int64(ewmaWeight*float64(int64(d)-old)), 1))
	}
	n.nEWMA++
}

// percentile95 is the 95th percentile of the kept latencies (nearest rank).
func (n *upstreamNode) percentile95() time.Duration {
	var buf [latencySamples]time.Duration
	s := buf[:copy(buf[:], n.lat[:min(n.nLat, latencySamples)])]
	slices.Sort(s)
	rank := (len(s)*95 + 99) / 100
	return s[max(rank-1, 0)]
}

// slowEnough reports whether the EWMA has enough samples to call the node slow.
func (n *upstreamNode) slowEnough() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nEWMA >= slowMinSamples
}

// reset forgets the node's history when it is readmitted: what it did before it was ejected says
// nothing about it now. The EWMA restarts from seed, the latency of its last good check.
func (n *upstreamNode) reset(seed time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nOutcomes, n.nLat, n.nEWMA, n.streak = 0, 0, 0, 0
	n.p95.Store(0)
	n.suspect.Store(false)
	n.addEWMA(seed)
}

// checkResult notes an active check of an ejected node and returns the number of good checks in a
// row: one that answered within limit counts, anything else starts the count again.
func (n *upstreamNode) checkResult(ok bool, d, limit time.Duration) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ok && d <= limit {
		n.streak++
	} else {
		n.streak = 0
	}
	return n.streak
}

// checkDue reports whether the next round of active checks should ask the node: when it is ejected,
// or suspect. A node hedged against stops recording failures (its attempts are cancelled once the
// other node answers), so only checks can tell whether it is silent or slow.
func (n *upstreamNode) checkDue() bool {
	return !n.healthy.Load() || n.suspect.Load()
}
