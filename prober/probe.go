package prober

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
)

// ErrNoUpstream reports that the upstreams stopped answering: AbortAfter
// probes in a row failed, or none of a run's probes got an answer.
var ErrNoUpstream = errors.New("no upstream answered")

// Backoff between the attempts of one probe: exponential from backoffBase,
// capped at backoffMax, with jitter.
const (
	backoffBase = 25 * time.Millisecond
	backoffMax  = 500 * time.Millisecond
)

// Sink receives the observations a probe run makes; *Writer is one.
type Sink interface {
	Write(Observation) error
}

// Stats counts what a probe run did.
type Stats struct {
	// Round is the round the observations were written under.
	Round string `json:"round"`
	// Planned is the probes the run started with: every unit × question,
	// plus the probes inside units that earlier observations asked for.
	Planned int `json:"planned"`
	// FollowUps is the probes inside units added while running, because an
	// answer's ECS scope was finer than the subnet asked.
	FollowUps int `json:"follow_ups"`
	// Skipped is the probes not sent: done earlier in the round, or answered
	// by an ECS scope wider than the subnet.
	Skipped int `json:"skipped"`
	// Answered is the probes that got a valid answer, each one observation.
	Answered int `json:"answered"`
	// Failed is the probes that failed after all their retries.
	Failed int `json:"failed"`
	// Queries is the DNS queries sent, retries included.
	Queries int `json:"queries"`
	// BudgetSpent reports that the run stopped at ProbeConfig.MaxQueries
	// with probes left.
	BudgetSpent bool `json:"budget_spent,omitempty"`
	// Elapsed is how long the run took.
	Elapsed time.Duration `json:"elapsed_ns"`
	// IPv4 and IPv6 split the queries and answers by the family of the
	// subnet asked.
	IPv4 FamilyStats `json:"ipv4"`
	IPv6 FamilyStats `json:"ipv6"`
}

// FamilyStats counts one address family's share of a probe run.
type FamilyStats struct {
	// Queries is the DNS queries sent for the family's subnets.
	Queries int `json:"queries"`
	// Answered is the probes of the family that got an answer.
	Answered int `json:"answered"`
	// Elapsed is the time from the start of the run to the family's last
	// answer: when it was done.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// family returns s's counts for p's address family.
func (s *Stats) family(p netip.Prefix) *FamilyStats {
	if p.Addr().Is4() {
		return &s.IPv4
	}
	return &s.IPv6
}

// errBudget ends a probe when the run's query budget is spent.
var errBudget = errors.New("query budget spent")

// Probe asks every question of cfg for every subnet (the units, e.g. /24s)
// with ECS, writes each answer to out as an Observation, and returns what
// it did. prior are observations made before (the observations file): the
// ones of cfg.Round say what is done already, so a killed run resumes where
// it stopped, and those whose ECS scope is finer than their subnet (split
// signals too) have their pieces probed.
//
// A probe that fails after its retries is counted, not fatal; Probe stops
// with ErrNoUpstream once AbortAfter probes in a row have failed, and with
// ctx's error when ctx ends. Either way the observations written so far
// stay in out.
func Probe(ctx context.Context, cfg ProbeConfig, subnets []netip.Prefix, prior []Observation, out Sink) (Stats, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Stats{}, err
	}
	r := newProbeRun(cfg, subnets, out)
	r.plan(prior)
	return r.run(ctx)
}

// probeRun is one call of Probe.
type probeRun struct {
	cfg   ProbeConfig
	qs    questions
	units unitSet
	known *known
	out   Sink
	ex    *exchanger
	lim   *limiter
	nodes *nodes

	mu       sync.Mutex
	main     []target
	next     int // position in main
	sub      []target
	queued   map[target]struct{}
	inflight int
	wake     chan struct{}
	stats    Stats
	failRun  int // probes failed in a row
	cancel   context.CancelCauseFunc
	start    time.Time
}

func newProbeRun(cfg ProbeConfig, subnets []netip.Prefix, out Sink) *probeRun {
	return &probeRun{
		cfg:    cfg,
		qs:     questions{names: cfg.Domains, qtypes: cfg.Qtypes},
		units:  newUnitSet(append(slices.Clone(subnets), cfg.Sample...)),
		known:  newKnown(),
		out:    out,
		ex:     newExchanger(),
		lim:    newLimiter(cfg.Rate, cfg.Concurrency, time.Now),
		nodes:  newNodes(cfg.Upstreams, cfg.Now),
		queued: map[target]struct{}{},
		wake:   make(chan struct{}, 1),
		stats:  Stats{Round: cfg.Round},
	}
}

// plan queues every unit × question, units in spread order, and the pieces
// that prior observations with fine scopes ask for.
func (r *probeRun) plan(prior []Observation) {
	units := make([]netip.Prefix, 0, len(r.units))
	for u := range r.units {
		units = append(units, u)
	}
	slices.SortFunc(units, comparePrefix)
	sample := slices.Clone(r.cfg.Sample)
	slices.SortFunc(sample, comparePrefix)
	for _, list := range [][]netip.Prefix{units, sample} {
		for _, i := range spreadOrder(len(list)) {
			for q := range question(r.qs.len()) {
				r.main = append(r.main, target{list[i], q})
			}
		}
	}
	for i := range prior {
		o := &prior[i]
		q, ok := r.qs.index(o.Domain, o.Qtype)
		if !ok {
			continue
		}
		eff := effective(o, r.units.capFor(o.Subnet))
		if o.Source == SourceProbe && o.Round == r.cfg.Round {
			r.known.add(o.Subnet, eff, q)
			r.queueFollowUps(o.Subnet, eff, q)
		} else if _, in := r.units.holding(o.Subnet); in && o.Source == SourceSplit && eff.Bits() > o.Subnet.Bits() {
			// The resolver saw this subnet split; look at every piece.
			r.queueFollowUps(o.Subnet, netip.Prefix{}, q, pieces(o.Subnet, eff.Bits())...)
		}
	}
	r.stats.Planned = len(r.main) + len(r.sub)
}

// queueFollowUps queues the pieces of subnet left unanswered by an answer
// holding only for eff (or the given pieces), once each, when subnet lies
// in a unit.
func (r *probeRun) queueFollowUps(subnet, eff netip.Prefix, q question, given ...netip.Prefix) int {
	if _, ok := r.units.holding(subnet); !ok {
		return 0
	}
	ps := given
	if eff.IsValid() {
		ps = followUps(subnet, eff)
	}
	n := 0
	for _, p := range ps {
		t := target{p, q}
		if _, dup := r.queued[t]; !dup {
			r.queued[t] = struct{}{}
			r.sub = append(r.sub, t)
			n++
		}
	}
	return n
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// run sends the queued probes, follow-ups first, until none is left.
func (r *probeRun) run(ctx context.Context) (Stats, error) {
	start := time.Now()
	r.start = start
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.cancel = cancel
	stop := startProgress(r.cfg.Progress, r.cfg.IsTerminal, r.progress)
	var wg sync.WaitGroup
	sem := make(chan struct{}, r.cfg.Concurrency)
	err := r.dispatch(ctx, sem, &wg)
	wg.Wait()
	stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Elapsed = time.Since(start)
	if err != nil {
		return r.stats, context.Cause(ctx)
	}
	if r.stats.Answered == 0 && r.stats.Failed > 0 {
		return r.stats, r.noUpstreamLocked()
	}
	return r.stats, nil
}

// dispatch hands probes to goroutines, at most Concurrency at a time and
// at the configured rate. A probe is checked against what the round knows
// right before it is sent, so answers with wide scopes save the probes
// that they cover.
func (r *probeRun) dispatch(ctx context.Context, sem chan struct{}, wg *sync.WaitGroup) error {
	for {
		t, ok := r.take(ctx)
		if !ok {
			return ctx.Err()
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.known.done(t) {
			<-sem
			r.count(func(s *Stats) { s.Skipped++ })
			continue
		}
		if err := r.lim.wait(ctx); err != nil {
			<-sem
			return err
		}
		r.mu.Lock()
		r.inflight++
		r.mu.Unlock()
		wg.Go(func() {
			defer func() { <-sem }()
			r.probe(ctx, t)
		})
	}
}

// take returns the next probe to send, follow-ups first. It waits while
// probes in flight may still add follow-ups, and reports false when
// nothing is left or ctx ends.
func (r *probeRun) take(ctx context.Context) (target, bool) {
	for {
		r.mu.Lock()
		switch {
		case r.stats.BudgetSpent && r.inflight == 0:
			r.mu.Unlock()
			return target{}, false
		case r.stats.BudgetSpent: // wait for the probes in flight, send nothing more
		case len(r.sub) > 0:
			t := r.sub[0]
			r.sub = r.sub[1:]
			r.mu.Unlock()
			return t, true
		case r.next < len(r.main):
			t := r.main[r.next]
			r.next++
			r.mu.Unlock()
			return t, true
		case r.inflight == 0:
			r.mu.Unlock()
			return target{}, false
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-ctx.Done():
			return target{}, false
		}
	}
}

func (r *probeRun) count(f func(*Stats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

// probe sends one probe with its retries, records the answer and queues
// its follow-ups.
func (r *probeRun) probe(ctx context.Context, t target) {
	defer func() {
		r.mu.Lock()
		r.inflight--
		r.mu.Unlock()
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}()
	o, err := r.ask(ctx, t)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, errBudget) {
			name, qtype := r.qs.at(t.q)
			r.cfg.Logger.Debug("probe failed", "subnet", t.p, "domain", name, "qtype", qtype, "err", err)
			r.failed()
		}
		return
	}
	if err := r.out.Write(o); err != nil {
		r.cancel(fmt.Errorf("recording observation: %w", err))
		return
	}
	eff := effective(&o, r.units.capFor(t.p))
	r.known.add(t.p, eff, t.q)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Answered++
	fs := r.stats.family(t.p)
	fs.Answered++
	fs.Elapsed = time.Since(r.start)
	r.failRun = 0
	n := r.queueFollowUps(t.p, eff, t.q)
	r.stats.FollowUps += n
}

// failed counts a probe that failed after its retries and stops the run
// when too many failed in a row.
func (r *probeRun) failed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Failed++
	r.failRun++
	if r.failRun >= r.cfg.AbortAfter {
		r.cancel(r.noUpstreamLocked())
	}
}

// noUpstreamLocked builds ErrNoUpstream with each node's last error.
func (r *probeRun) noUpstreamLocked() error {
	return fmt.Errorf("%w (%d probes in a row failed): %s", ErrNoUpstream, r.failRun, r.nodes.errors())
}

// ask sends t until it gets a valid answer or runs out of attempts. Each
// retry waits a jittered, doubling backoff and goes to the next node that
// is up.
func (r *probeRun) ask(ctx context.Context, t target) (Observation, error) {
	name, qtype := r.qs.at(t.q)
	first := r.nodeIndex(t)
	var err error
	for attempt := 0; attempt <= r.cfg.Retries; attempt++ {
		if attempt > 0 {
			if werr := r.backoff(ctx, attempt); werr != nil {
				return Observation{}, werr
			}
		}
		if !r.spend(t.p) {
			return Observation{}, errBudget
		}
		i := r.nodes.pick(first, attempt)
		node := r.cfg.Upstreams[i]
		actx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		var a answer
		a, err = r.ex.ask(actx, node, name, qtype, t.p, func() bool { return r.spend(t.p) })
		cancel()
		if ctx.Err() != nil {
			return Observation{}, ctx.Err()
		}
		if errors.Is(err, errBudget) {
			return Observation{}, err
		}
		r.nodes.report(i, err)
		if err == nil {
			return Observation{Subnet: t.p, Domain: name, Qtype: qtype, Answers: a.ips, Rcode: a.rcode,
				Scope: a.scope, Node: node, Time: r.cfg.Now().UTC(), Round: r.cfg.Round, Source: SourceProbe}, nil
		}
	}
	return Observation{}, err
}

// spend takes one query from the budget for a subnet of p's family and
// counts it; false when the budget is spent (which stops the run).
func (r *probeRun) spend(p netip.Prefix) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cfg.MaxQueries > 0 && r.stats.Queries >= r.cfg.MaxQueries {
		r.stats.BudgetSpent = true
		return false
	}
	r.stats.Queries++
	r.stats.family(p).Queries++
	return true
}

// backoff waits before attempt (1, 2, ...): base·2^(attempt-1), capped,
// with half of it jittered, then takes a rate token.
func (r *probeRun) backoff(ctx context.Context, attempt int) error {
	d := min(backoffBase<<min(attempt-1, 8), backoffMax)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return r.lim.wait(ctx)
}

// nodeIndex picks t's first node by a hash of its subnet and question, so
// the load spreads evenly and a re-run asks the same node.
func (r *probeRun) nodeIndex(t target) int {
	b, _ := t.p.MarshalBinary()
	b = append(b, byte(t.q), byte(t.q>>8))
	return int(xxhash.Sum64(b) % uint64(len(r.cfg.Upstreams)))
}

// progress returns (done, total) for the progress display.
func (r *probeRun) progress() (done, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	return s.Answered + s.Failed + s.Skipped, s.Planned + s.FollowUps
}
