package upstream

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// readmitChecks is how many good checks in a row bring an ejected node back.
const readmitChecks = 3

// runChecks runs checkOnce every check interval until Close. The logic is all in checkOnce, which
// tests call directly.
func (p *Pool) runChecks() {
	t := time.NewTicker(p.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
			p.checkOnce(p.ctx)
		}
	}
}

// checkOnce sends one active check to every ejected or suspect node, all at once, and waits for
// them. Nodes that answer live queries in time get none: their traffic says how they are.
func (p *Pool) checkOnce(ctx context.Context) {
	var wg sync.WaitGroup
	for _, n := range p.nodes {
		if n.checkDue() {
			wg.Go(func() { p.check(ctx, n) })
		}
	}
	wg.Wait()
}

// confirm checks n now, in the background, unless a check of n is running already: n timed out on
// enough distinct names, or answered slowly enough, that a check of the known-good name should say
// whether the node or the names are at fault. Close waits for it.
func (p *Pool) confirm(n *node) {
	p.closeMu.RLock()
	defer p.closeMu.RUnlock()
	if p.closed || !n.checking.CompareAndSwap(false, true) {
		return
	}
	p.checks.Go(func() {
		defer n.checking.Store(false)
		p.check(p.ctx, n)
	})
}

// check asks n the known-good check name, type NS. NOERROR or NXDOMAIN proves the node works, and so
// does REFUSED: the node is reachable and answering, only not for that name (an authoritative-only
// server, as in the project's simulated world, refuses names outside its zones). SERVFAIL for a name
// every recursive server can answer, silence, a network error or a reply that does not match count
// against it.
//
// On a healthy node the check is one more outcome for its error rate and latency EWMA (it measures
// the full round trip, which its cancelled live attempts could not); a good one forgets the node's
// pending timeouts (they were their names' problem), a failed one counts them. A good check slower
// than the slow limit ejects a node whose EWMA is over it too; a good check within the limit while
// the EWMA is over it restarts the EWMA from the check: the slow answers were their names'. A reply in hedging
// time clears the suspicion. On an ejected node a good check within the slow limit counts towards
// readmission.
func (p *Pool) check(ctx context.Context, n *node) {
	q := new(dns.Msg)
	q.SetQuestion(p.cfg.CheckName, dns.TypeNS)
	q.RecursionDesired = true
	actx, cancel := context.WithTimeout(ctx, p.cfg.AttemptTimeout)
	defer cancel()
	start := time.Now()
	reply, err := p.udp.Exchange(actx, q, n.addr)
	d := time.Since(start)
	if ctx.Err() != nil {
		return // shutting down: the check says nothing about the node
	}
	if err == nil {
		err = validateReply(q, reply)
	}
	result := attemptResult(err)
	p.m.checks.WithLabelValues(n.addr, result).Inc()
	if result == resultLocal {
		return // nothing was sent
	}
	good := err == nil || result == resultRefused
	if n.healthy.Load() {
		if !good {
			if n.checkFailed(p.cfg.Now(), p.cfg.EjectErrorRate) {
				p.eject(n, reasonErrors)
			}
			return
		}
		n.checkPassed()
		switch limit, ok := p.slowLimit(n); {
		case ok && d > limit:
			n.recordLatency(d)
			p.maybeEjectSlow(n) // the known-good name is slow too: the node is
		case ok && time.Duration(n.ewma.Load()) > limit:
			n.restartLatency(d) // fast on the known-good name: its slow answers were its names'
		default:
			n.recordLatency(d)
		}
		if d <= max(time.Duration(n.p95.Load()), p.cfg.HedgeMin) {
			n.suspect.Store(false)
		}
		return
	}
	limit, _ := p.slowLimit(n)
	if n.checkResult(good, d, limit) >= readmitChecks {
		p.readmit(n, d)
	}
}

// maybeCheckSlow checks n now, in the background, if its latency EWMA over live queries, over enough
// samples, is above the slow limit. Live latency is no evidence about the node on its own: a client
// chooses the names, and a name whose authoritative servers are slow is slow on every node. So the
// known-good name decides: slow too, and the node is ejected; fast, and the EWMA restarts from the
// check's latency (see check). The common case costs one atomic load.
func (p *Pool) maybeCheckSlow(n *node) {
	ewma := time.Duration(n.ewma.Load())
	if ewma <= slowFloor || !n.healthy.Load() || !n.slowEnough() {
		return
	}
	if limit, ok := p.slowLimit(n); ok && ewma > limit {
		p.confirm(n)
	}
}

// maybeEjectSlow ejects n if it is slow but alive: its latency EWMA, over enough samples, is above
// the slow limit. Only a slow check of the known-good name calls it.
func (p *Pool) maybeEjectSlow(n *node) {
	if time.Duration(n.ewma.Load()) <= slowFloor || !n.healthy.Load() || !n.slowEnough() {
		return
	}
	p.eject(n, reasonSlow)
}

// slowLimit is the latency EWMA above which n counts as slow: SlowFactor times the median EWMA of the
// other healthy nodes, and at least slowFloor, so that nodes all answering in a few milliseconds do
// not eject each other over noise. It reports false when no other healthy node has a latency yet:
// slow is relative, and with nothing to compare to nobody is ejected for it.
func (p *Pool) slowLimit(n *node) (time.Duration, bool) {
	var buf [16]int64
	peers := buf[:0]
	for _, o := range p.table.Load().healthy {
		if e := o.ewma.Load(); o != n && e > 0 {
			peers = append(peers, e)
		}
	}
	if len(peers) == 0 {
		return slowFloor, false
	}
	slices.Sort(peers)
	median := peers[len(peers)/2]
	if len(peers)%2 == 0 {
		median = (peers[len(peers)/2-1] + median) / 2
	}
	return max(time.Duration(p.cfg.SlowFactor*float64(median)), slowFloor), true
}

// eject takes n out of the ring for reason, unless it is out already or the last healthy node: that
// one stays, the last resort, but a node failing for errors is marked down, so Healthy does not
// count it, until it answers again. A slow ejection is decided again under the lock, against the
// other nodes as they are now.
func (p *Pool) eject(n *node, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !n.healthy.Load() {
		return
	}
	if len(p.table.Load().healthy) < 2 {
		if reason == reasonErrors && !n.down.Swap(true) {
			p.cfg.Logger.Warn("last upstream node failing; kept in the ring", "node", n.addr)
		}
		return
	}
	ewma := time.Duration(n.ewma.Load())
	if reason == reasonSlow {
		if limit, ok := p.slowLimit(n); !ok || ewma <= limit {
			return
		}
	}
	n.healthy.Store(false)
	p.table.Store(newRingTable(p.prefs, p.nodes))
	p.m.ejections.WithLabelValues(n.addr, reason).Inc()
	p.cfg.Logger.Warn("upstream node ejected", "node", n.addr, "reason", reason, "latency_ewma", ewma)
}

// readmit puts n back in the ring with a fresh history, its latency EWMA seeded with seed.
func (p *Pool) readmit(n *node, seed time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n.healthy.Load() {
		return
	}
	n.reset(seed)
	n.healthy.Store(true)
	p.table.Store(newRingTable(p.prefs, p.nodes))
	p.cfg.Logger.Info("upstream node readmitted", "node", n.addr, "check_latency", seed)
}
