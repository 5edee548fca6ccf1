package upstream

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Health bookkeeping of one upstream node. Latencies are measured on the monotonic wall clock (they
// are real network round trips); the windows that decide ejection use the pool's injected clock (Config.Now), so
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

// timeoutMemory is how many timeouts not yet attributed (to the node or to their names) a node keeps.
const timeoutMemory = 16

// timeout is one attempt that timed out, by the hash of its name.
type timeout struct {
	at   time.Time
	name uint64
}

// node is one recursive server and what live traffic and active checks say about it. The
// fields read on every query (in-flight count, EWMA, p95, health) are atomics; the windows behind
// them are guarded by mu.
type node struct {
	addr     string
	inflight atomic.Int64 // attempts running now, for the bounded-load pick
	ewma     atomic.Int64 // latency EWMA in nanoseconds; 0 before the first sample
	p95      atomic.Int64 // p95 of recent successful latencies in nanoseconds; 0 with too few samples
	healthy  atomic.Bool  // in the ring; changed only under Pool.mu
	suspect  atomic.Bool  // lost a hedge, or failed a query in a way that may be the name's: checked every round
	checking atomic.Bool  // a check confirming timeouts is running
	down     atomic.Bool  // failing as an ejected node would, but kept as the last healthy one

	mu        sync.Mutex
	outcomes  [healthAttempts]outcome
	nOutcomes int // valid entries in outcomes, at most healthAttempts
	lat       [latencySamples]time.Duration
	nLat      int // samples taken since the last reset; lat holds the last min(nLat, latencySamples)
	nEWMA     int // samples in the EWMA since the last reset
	streak    int // consecutive good checks while ejected
	pending   [timeoutMemory]timeout
	nPending  int  // valid entries in pending, newest first
	failing   bool // a check confirmed its timeouts: timeouts count as failures until the node replies
}

// newNode returns a healthy node with no history.
func newNode(addr string) *node {
	n := &node{addr: addr}
	n.healthy.Store(true)
	return n
}

// String names the node by its address; it makes *node a consistent.Member.
func (n *node) String() string { return n.addr }

// recordSuccess notes a good reply that took d.
func (n *node) recordSuccess(now time.Time, d time.Duration) {
	n.suspect.Store(false)
	n.down.Store(false)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.failing = false
	n.addOutcome(now, false)
	n.addEWMA(d)
	n.lat[n.nLat%latencySamples] = d
	n.nLat++
	if n.nLat >= hedgeMinSamples && (n.nLat%p95Every == 0 || n.nLat == hedgeMinSamples) {
		n.p95.Store(int64(n.percentile95()))
	}
}

// recordFailure notes a failure that is the node's own (a network error) and reports whether the
// node's recent error rate reaches rate over enough outcomes to eject it.
func (n *node) recordFailure(now time.Time, rate float64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addFailure(now, rate)
}

func (n *node) addFailure(now time.Time, rate float64) bool {
	n.addOutcome(now, true)
	recent, failed := n.errorCounts(now)
	return recent >= ejectMinAttempts && float64(failed) >= rate*float64(recent)
}

// recordNameFailure notes a reply that failed in a way that may be the name's (SERVFAIL, REFUSED, a
// reply that does not match): the node replied, so it is reachable, but it may be unable to resolve
// anything; the next round of checks asks it the known-good name.
func (n *node) recordNameFailure() {
	n.suspect.Store(true)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.failing = false
}

// recordTimeout notes an attempt for the name hashed to name that timed out. It is the name's
// problem until the node has timed out on names distinct names within the health window: then
// confirm asks for a check of the known-good name to decide. Once a check has confirmed them, the
// node's timeouts count as failures until it replies again; eject reports that the error rate is
// reached.
func (n *node) recordTimeout(now time.Time, name uint64, names int, rate float64) (confirm, eject bool) {
	n.suspect.Store(true)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.failing {
		return false, n.addFailure(now, rate)
	}
	copy(n.pending[1:], n.pending[:timeoutMemory-1])
	n.pending[0] = timeout{at: now, name: name}
	n.nPending = min(n.nPending+1, timeoutMemory)
	var seen [timeoutMemory]uint64
	distinct := 0
	for _, t := range n.pending[:n.nPending] {
		if now.Sub(t.at) > healthWindow {
			break // newest first: the rest are older still
		}
		if !slices.Contains(seen[:distinct], t.name) {
			seen[distinct] = t.name
			distinct++
		}
	}
	return distinct >= names, false
}

// checkFailed notes a failed check of the known-good name: the node's pending timeouts were its own
// after all and count as failures, as does the check, and further timeouts count until the node
// replies. It reports whether the error rate now ejects the node.
func (n *node) checkFailed(now time.Time, rate float64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, t := range n.pending[:n.nPending] {
		if now.Sub(t.at) <= healthWindow {
			n.addOutcome(now, true) // as of now, so the outcomes stay newest first
		}
	}
	n.nPending = 0
	n.failing = true
	return n.addFailure(now, rate)
}

// checkPassed notes a good check of the known-good name: the node works, so its pending timeouts
// were their names' problem and are forgotten.
func (n *node) checkPassed() {
	n.down.Store(false)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nPending = 0
	n.failing = false
}

// recordLatency adds d to the EWMA only: an active check's round trip, which says how slow the node
// is but is no sample of real queries for the hedging p95.
func (n *node) recordLatency(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addEWMA(d)
}

// restartLatency restarts the EWMA from d, the latency of a good check of the known-good name, when
// the live latencies behind it were their names' (see Pool.check); the hedging p95 is kept.
func (n *node) restartLatency(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nEWMA = 0
	n.addEWMA(d)
}

// recordLowerBound notes an attempt abandoned after d because another node answered first: the node's
// latency is at least d, which raises the EWMA when it is above it and says nothing otherwise.
func (n *node) recordLowerBound(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if int64(d) > n.ewma.Load() {
		n.addEWMA(d)
	}
}

func (n *node) addOutcome(now time.Time, failed bool) {
	copy(n.outcomes[1:], n.outcomes[:healthAttempts-1])
	n.outcomes[0] = outcome{at: now, failed: failed}
	n.nOutcomes = min(n.nOutcomes+1, healthAttempts)
}

// errorCounts returns how many outcomes fall in the health window ending at now, and how many of
// them failed.
func (n *node) errorCounts(now time.Time) (recent, failed int) {
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

func (n *node) addEWMA(d time.Duration) {
	old := n.ewma.Load()
	if n.nEWMA == 0 || old == 0 {
		n.ewma.Store(max(int64(d), 1))
	} else {
		n.ewma.Store(max(old+int64(ewmaWeight*float64(int64(d)-old)), 1))
	}
	n.nEWMA++
}

// percentile95 is the 95th percentile of the kept latencies (nearest rank).
func (n *node) percentile95() time.Duration {
	var buf [latencySamples]time.Duration
	s := buf[:copy(buf[:], n.lat[:min(n.nLat, latencySamples)])]
	slices.Sort(s)
	rank := (len(s)*95 + 99) / 100
	return s[max(rank-1, 0)]
}

// slowEnough reports whether the EWMA has enough samples to call the node slow.
func (n *node) slowEnough() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nEWMA >= slowMinSamples
}

// reset forgets the node's history when it is readmitted: what it did before it was ejected says
// nothing about it now. The EWMA restarts from seed, the latency of its last good check.
func (n *node) reset(seed time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nOutcomes, n.nLat, n.nEWMA, n.streak, n.nPending = 0, 0, 0, 0, 0
	n.failing = false
	n.p95.Store(0)
	n.suspect.Store(false)
	n.down.Store(false)
	n.addEWMA(seed)
}

// checkResult notes an active check of an ejected node and returns the number of good checks in a
// row: one that answered within limit counts, anything else starts the count again.
func (n *node) checkResult(ok bool, d, limit time.Duration) int {
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
// other node answers), and a node that failed a query may have failed for the name's sake, so only
// checks of the known-good name can tell whether it is silent, slow or broken.
func (n *node) checkDue() bool {
	return !n.healthy.Load() || n.suspect.Load() || n.down.Load()
}

// serving reports whether the node is in the ring and not known to be failing.
func (n *node) serving() bool {
	return n.healthy.Load() && !n.down.Load()
}
