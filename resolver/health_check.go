package resolver

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// readmitChecks is how many good checks in a row bring an ejected node back.
const readmitChecks = 3

// runChecks runs checkOnce every check interval until ctx ends. The logic is all in checkOnce, which
// tests call directly.
func (p *pool) runChecks(ctx context.Context) {
	t := time.NewTicker(p.cfg.checkInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.checkOnce(ctx)
		}
	}
}

// checkOnce sends one active check to every ejected or suspect node, all at once, and waits for
// them. Nodes that answer live queries in time get none: their traffic says how they are.
func (p *pool) checkOnce(ctx context.Context) {
	var wg sync.WaitGroup
	for _, n := range p.nodes {
		if n.checkDue() {
			wg.Go(func() { p.check(ctx, n) })
		}
	}
	wg.Wait()
}

// check asks n the check name, type NS. Any reply with our ID, whatever its rcode, proves the node
// alive: the check tests the node, not the name. On a suspect node the check is one more attempt
// for its error rate and latency EWMA (it measures the full round trip, which its cancelled live
// attempts could not), and a reply in hedging time clears the suspicion. On an ejected node it
// counts towards readmission when it answered within the slow limit.
func (p *pool) check(ctx context.Context, n *upstreamNode) {
	q := new(dns.Msg)
	q.SetQuestion(p.cfg.checkName, dns.TypeNS)
	q.RecursionDesired = true
	actx, cancel := context.WithTimeout(ctx, p.cfg.attempt)
	defer cancel()
	start := time.Now()
	reply, err := p.udp.Exchange(actx, q, n.addr)
	d := time.Since(start)
	if ctx.Err() != nil {
		return // shutting down: the check says nothing about the node
	}
	if err == nil && !reply.Response {
		err = errBadReply
	}
	p.pm.checks.WithLabelValues(n.addr, attemptResult(err)).Inc()
	if n.healthy.Load() {
		if err != nil {
			if n.recordFailure(p.cfg.now(), p.cfg.ejectRate) {
				p.eject(n, reasonErrors)
			}
			return
		}
		n.recordLatency(d)
		if d <= max(time.Duration(n.p95.Load()), p.cfg.hedgeMin) {
			n.suspect.Store(false)
		}
		p.maybeEjectSlow(n)
		return
	}
	limit, _ := p.slowLimit(n)
	if n.checkResult(err == nil, d, limit) >= readmitChecks {
		p.readmit(n, d)
	}
}

// maybeEjectSlow ejects n if it is slow but alive: its latency EWMA, over enough samples, is above
// the slow limit. The common case costs one atomic load.
func (p *pool) maybeEjectSlow(n *upstreamNode) {
	if time.Duration(n.ewma.Load()) <= slowFloor || !n.healthy.Load() || !n.slowEnough() {
		return
	}
	p.eject(n, reasonSlow)
}

// slowLimit is the latency EWMA above which n counts as slow: SlowFactor times the median EWMA of the
// other healthy nodes, and at least slowFloor, so that nodes all answering in a few milliseconds do
// not eject each other over noise. It reports false when no other healthy node has a latency yet:
// slow is relative, and with nothing to compare to nobody is ejected for it.
func (p *pool) slowLimit(n *upstreamNode) (time.Duration, bool) {
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
	return max(time.Duration(p.cfg.slowFactor*float64(median)), slowFloor), true
}

// eject takes n out of the ring for reason, unless it is out already or the last healthy node. A
// slow ejection is decided again under the lock, against the other nodes as they are now.
func (p *pool) eject(n *upstreamNode, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !n.healthy.Load() || len(p.table.Load().healthy) < 2 {
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
	p.pm.ejections.WithLabelValues(n.addr, reason).Inc()
	p.cfg.logger.Warn("upstream node ejected", "node", n.addr, "reason", reason, "latency_ewma", ewma)
}

// readmit puts n back in the ring with a fresh history, its latency EWMA seeded with seed.
func (p *pool) readmit(n *upstreamNode, seed time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n.healthy.Load() {
		return
	}
	n.reset(seed)
	n.healthy.Store(true)
	p.table.Store(newRingTable(p.prefs, p.nodes))
	p.cfg.logger.Info("upstream node readmitted", "node", n.addr, "check_latency", seed)
}
