package resolver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"
)

// exchange asks the nodes in key's order until one gives a valid reply or ctx ends; a failed attempt
// moves on to the next node. When a node is late — no reply within its recent p95 latency, and at
// least HedgeMin — the next node is asked too (a hedged query) and the first valid reply wins; the
// other attempt is cancelled. At most two attempts run at once, and exchange returns only after its
// attempts have ended, so it leaves no goroutine behind.
func (p *pool) exchange(ctx context.Context, q *dns.Msg, key string) (*dns.Msg, error) {
	r := &race{p: p, ctx: ctx, q: q}
	r.order = p.order(key, r.buf[:0])
	return r.run()
}

// hedgeDelay is how long to wait for n before hedging, or 0 for no hedge: hedging is off, there is no
// next node, fewer than two nodes are healthy, n has too few latency samples for a p95, or the
// attempt would time out first (then the retry covers it).
func (p *pool) hedgeDelay(n *upstreamNode, hasNext bool) time.Duration {
	if p.cfg.hedgeMin < 0 || !hasNext || !n.healthy.Load() || len(p.table.Load().healthy) < 2 {
		return 0
	}
	p95 := time.Duration(n.p95.Load())
	if p95 == 0 {
		return 0
	}
	d := max(p95, p.cfg.hedgeMin)
	if d >= p.cfg.attempt {
		return 0
	}
	return d
}

// flight is the end of one attempt run in its own goroutine.
type flight struct {
	node  *upstreamNode
	reply *dns.Msg
	err   error
}

// running is an attempt in its own goroutine and the function that cancels it.
type running struct {
	node   *upstreamNode
	cancel context.CancelFunc
}

// race is one exchange: the order, the attempts running, and the errors so far.
type race struct {
	p       *pool
	ctx     context.Context
	q       *dns.Msg
	spare   *dns.Msg         // a copy of q for a hedge, made before the attempt it hedges starts
	buf     [8]*upstreamNode // order's storage for up to 8 nodes
	order   []*upstreamNode
	next    int // the next node of order to ask
	errs    []error
	results chan flight // made on the first goroutine; at most two attempts run at once, so two slots never block a sender
	running []running
	late    *upstreamNode // the node hedged against, while its hedge is undecided
	hedge   *upstreamNode // the node asked by that hedge
	timer   *time.Timer
	hedgeAt <-chan time.Time // the timer's channel while a hedge may start, else nil
}

func (r *race) run() (*dns.Msg, error) {
	defer r.stop()
	for r.ctx.Err() == nil {
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
func (r *race) start(n *upstreamNode, q *dns.Msg) {
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
	if r.next >= len(r.order) || len(r.running) != 1 {
		return
	}
	r.late, r.hedge = r.running[0].node, r.order[r.next]
	r.next++
	r.start(r.hedge, r.spare)
}

// finished forgets the ended attempt on n and releases its context.
func (r *race) finished(n *upstreamNode) {
	for i, a := range r.running {
		if a.node == n {
			a.cancel()
			r.running = append(r.running[:i], r.running[i+1:]...)
			return
		}
	}
}

func (r *race) fail(n *upstreamNode, err error) {
	r.errs = append(r.errs, fmt.Errorf("%s: %w", n.addr, err))
}

// settle counts the hedge in progress, if any, once it is decided: won when the hedged node gave
// the answer, lost otherwise (the late node answered after all, or neither did).
func (r *race) settle(winner *upstreamNode) {
	if r.late == nil {
		return
	}
	won := winner != nil && winner == r.hedge
	if won {
		r.late.suspect.Store(true) // its attempt was cancelled: let the checks find out why it was late
	}
	r.p.pm.hedge(r.late, won)
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
