package upstream

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// exchange asks the nodes in key's order until one gives a valid reply or ctx ends; a failed attempt
// moves on to the next node, unless it is the second node to fail the same way in a way that may be
// the name's (then the name failed: ErrNameFailed). When a node is late — no reply within its recent
// p95 latency, and at least HedgeMin — the next node is asked too (a hedged query), within the hedge
// budget, and the first valid reply wins; the other attempt is cancelled. At most two attempts run at
// once, and exchange returns only after its attempts have ended, so it leaves no goroutine behind.
func (p *Pool) exchange(ctx context.Context, q *dns.Msg, key string) (*dns.Msg, error) {
	p.hedges.earn()
	r := &race{p: p, ctx: ctx, q: q}
	r.order = p.order(key, r.buf[:0])
	return r.run()
}

// Hedge budget: each exchange earns a tenth of a hedge, and at most hedgeBurst hedges can be saved
// up. A p95 delay alone hedges about 5% of the queries in steady state, but every query after a
// change of regime (a burst of names the recursive nodes must resolve from scratch, a node slowing
// down) is late at once; the budget keeps such a burst from doubling the upstream load.
const (
	hedgeShare = 10 // one hedge per this many exchanges
	hedgeBurst = 3  // hedges that can be saved up
)

// hedgeBudget is a token bucket of hedges, in tenths of a hedge, lock-free.
type hedgeBudget struct{ tenths atomic.Int64 }

func (b *hedgeBudget) init() { b.tenths.Store(hedgeBurst * hedgeShare) }

// earn adds a tenth of a hedge, up to hedgeBurst.
func (b *hedgeBudget) earn() {
	for {
		v := b.tenths.Load()
		if v >= hedgeBurst*hedgeShare || b.tenths.CompareAndSwap(v, v+1) {
			return
		}
	}
}

// spend takes one hedge and reports whether there was one.
func (b *hedgeBudget) spend() bool {
	for {
		v := b.tenths.Load()
		if v < hedgeShare {
			return false
		}
		if b.tenths.CompareAndSwap(v, v-hedgeShare) {
			return true
		}
	}
}

// hedgeDelay is how long to wait for n before hedging, or 0 for no hedge: hedging is off, there is no
// next node, fewer than two nodes are healthy, n has too few latency samples for a p95, or the
// attempt would time out first (then the retry covers it).
func (p *Pool) hedgeDelay(n *node, hasNext bool) time.Duration {
	if p.cfg.HedgeMin < 0 || !hasNext || !n.healthy.Load() || len(p.table.Load().healthy) < 2 {
		return 0
	}
	p95 := time.Duration(n.p95.Load())
	if p95 == 0 {
		return 0
	}
	d := max(p95, p.cfg.HedgeMin)
	if d >= p.cfg.AttemptTimeout {
		return 0
	}
	return d
}

// failure is one node's failure that may be the name's, by result.
type failure struct {
	node   *node
	result string
}

// flight is the end of one attempt run in its own goroutine.
type flight struct {
	node  *node
	reply *dns.Msg
	err   error
}

// running is an attempt in its own goroutine and the function that cancels it.
type running struct {
	node   *node
	cancel context.CancelFunc
}

// race is one exchange: the order, the attempts running, and the errors so far.
type race struct {
	p       *Pool
	ctx     context.Context
	q       *dns.Msg
	spare   *dns.Msg // a copy of q for a hedge, made before the attempt it hedges starts
	buf     [8]*node // order's storage for up to 8 nodes
	order   []*node
	next    int // the next node of order to ask
	errs    []error
	failed  []failure   // the attempts that failed in a way that may be the name's
	named   string      // the result two nodes failed the name with, once they have
	results chan flight // made on the first goroutine; at most two attempts run at once, so two slots never block a sender
	running []running
	late    *node // the node hedged against, while its hedge is undecided
	hedge   *node // the node asked by that hedge
	timer   *time.Timer
	hedgeAt <-chan time.Time // the timer's channel while a hedge may start, else nil
}

func (r *race) run() (*dns.Msg, error) {
	defer r.stop()
	for r.ctx.Err() == nil && r.named == "" {
		if len(r.running) == 0 {
			if r.next >= len(r.order) {
				break
			}
			if reply, ok := r.launch(); ok {
				return reply, nil
			}
			continue
		}
		if reply, ok := r.await(); ok {
			return reply, nil
		}
	}
	if r.named != "" {
		return nil, fmt.Errorf("%w (%s): %w", ErrNameFailed, r.named, errors.Join(r.errs...))
	}
	if err := r.ctx.Err(); err != nil {
		r.errs = append(r.errs, err)
	}
	return nil, errors.Join(r.errs...)
}

// launch asks the next node. When no hedge is possible it asks inline, without a goroutine, and
// reports the reply if it is valid; otherwise it starts the attempt and arms the hedge timer.
func (r *race) launch() (*dns.Msg, bool) {
	n := r.order[r.next]
	r.next++
	delay := r.p.hedgeDelay(n, r.next < len(r.order))
	if delay == 0 {
		reply, err := r.p.try(r.ctx, r.q, n)
		if err != nil {
			r.fail(n, err)
			return nil, false
		}
		return reply, true
	}
	if r.spare == nil {
		r.spare = r.q.Copy() // now: packing q writes to it, so no copying it while an attempt runs
	}
	r.start(n, r.q)
	if r.timer == nil {
		r.timer = time.NewTimer(delay)
	} else {
		r.timer.Reset(delay)
	}
	r.hedgeAt = r.timer.C
	return nil, false
}

// await waits for the next event: an attempt's end, the hedge timer, or ctx's end. It reports a
// valid reply when one came.
func (r *race) await() (*dns.Msg, bool) {
	select {
	case f := <-r.results:
		r.finished(f.node)
		if f.err == nil {
			r.settle(f.node)
			return f.reply, true
		}
		r.fail(f.node, f.err)
		if len(r.running) == 0 {
			r.hedgeAt = nil
			r.settle(nil)
		}
	case <-r.hedgeAt:
		r.hedgeAt = nil
		r.startHedge()
	case <-r.ctx.Done():
	}
	return nil, false
}

// start runs an attempt on n in its own goroutine, cancellable on its own.
func (r *race) start(n *node, q *dns.Msg) {
	if r.results == nil {
		r.results = make(chan flight, 2)
	}
	ctx, cancel := context.WithCancel(r.ctx)
	r.running = append(r.running, running{node: n, cancel: cancel})
	go func() {
		reply, err := r.p.try(ctx, q, n)
		r.results <- flight{node: n, reply: reply, err: err}
	}()
}

// startHedge asks the next node while the late one is still running. The hedge gets its own copy
// of the query: the two attempts run concurrently, and packing a message writes to it.
func (r *race) startHedge() {
	if r.next >= len(r.order) || len(r.running) != 1 || !r.p.hedges.spend() {
		return
	}
	r.late, r.hedge = r.running[0].node, r.order[r.next]
	r.next++
	r.start(r.hedge, r.spare)
}

// finished forgets the ended attempt on n and releases its context.
func (r *race) finished(n *node) {
	for i, a := range r.running {
		if a.node == n {
			a.cancel()
			r.running = append(r.running[:i], r.running[i+1:]...)
			return
		}
	}
}

// fail notes n's failed attempt. A failure that may be the name's, and the same as another node's,
// ends the race: the name failed, and the other nodes would fail it too.
func (r *race) fail(n *node, err error) {
	r.errs = append(r.errs, fmt.Errorf("%s: %w", n.addr, err))
	result := attemptResult(err)
	if !nameResult(result) || r.ctx.Err() != nil {
		return
	}
	for _, f := range r.failed {
		if f.result == result && f.node != n {
			r.named = result
			return
		}
	}
	r.failed = append(r.failed, failure{node: n, result: result})
}

// settle counts the hedge in progress, if any, once it is decided: won when the hedged node gave
// the answer, lost otherwise (the late node answered after all, or neither did).
func (r *race) settle(winner *node) {
	if r.late == nil {
		return
	}
	won := winner != nil && winner == r.hedge
	if won {
		r.late.suspect.Store(true) // its attempt was cancelled: let the checks find out why it was late
	}
	r.p.m.hedge(r.late, won)
	r.late, r.hedge = nil, nil
}

// stop cancels the attempts still running and waits for them to end.
func (r *race) stop() {
	if r.timer != nil {
		r.timer.Stop()
	}
	r.settle(nil)
	for _, a := range r.running {
		a.cancel()
	}
	for range r.running {
		<-r.results
	}
	r.running = nil
}
