package upstream

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/miekg/dns"
)

// Pool sends upstream queries to the recursive nodes; see the package documentation for how it
// routes, judges health, hedges and bounds its work. Its methods are safe for concurrent use.
type Pool struct {
	cfg     Config
	nodes   []*node
	prefs   [][]*node                 // each partition's preference order; fixed
	table   atomic.Pointer[ringTable] // the routing now; replaced on ejection and readmission
	mu      sync.Mutex                // serialises ejections and readmissions
	udp     exchanger
	tcp     exchanger
	sockets *udpSockets
	slots   chan struct{} // one per exchange running; cap MaxInflight
	hedges  hedgeBudget
	m       *metrics

	ctx     context.Context // ends at Close: stops the checker and the checks it starts
	cancel  context.CancelFunc
	checker sync.WaitGroup // the periodic checker
	checks  sync.WaitGroup // checks confirming timeouts
	closeMu sync.RWMutex   // held for writing by Close, for reading while starting a check
	closed  bool
	closing sync.Once
}

// New validates cfg, builds the pool and starts its active checker, which runs every
// cfg.CheckInterval until Close.
func New(cfg Config) (*Pool, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.CheckName = dns.Fqdn(cfg.CheckName)
	nodes := make([]*node, 0, len(cfg.Addrs))
	for _, a := range cfg.Addrs {
		nodes = append(nodes, newNode(a))
	}
	prefs, err := preferences(nodes)
	if err != nil {
		return nil, err
	}
	p := &Pool{
		cfg:     cfg,
		nodes:   nodes,
		prefs:   prefs,
		sockets: newUDPSockets(cfg.Addrs),
		tcp:     tcpDialer{&dns.Client{Net: "tcp"}},
		slots:   make(chan struct{}, cfg.MaxInflight),
	}
	p.udp = p.sockets
	p.hedges.init()
	p.m = newMetrics(cfg.Registerer, p)
	p.table.Store(newRingTable(prefs, nodes))
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if cfg.CheckInterval > 0 {
		p.checker.Go(p.runChecks)
	}
	return p, nil
}

// Close stops the active checks, waits for them and closes the idle sockets. Exchanges still
// running end on their own deadline; Exchange leaves no goroutine behind.
func (p *Pool) Close() {
	p.closing.Do(func() {
		p.closeMu.Lock()
		p.closed = true
		p.closeMu.Unlock()
		p.cancel()
		p.checker.Wait()
		p.checks.Wait()
		p.sockets.close()
	})
}

// Inflight returns how many exchanges are running now and MaxInflight, their cap: the lowest-priority
// background work (the resolver's accuracy checks) stays away when the pool is nearly full.
func (p *Pool) Inflight() (running, limit int) { return len(p.slots), cap(p.slots) }

// Healthy returns how many nodes are in the ring (not ejected) and not failing. The last node in
// the ring is never ejected (with nothing to fail over to, it is still worth asking), but once it
// fails as an ejected node would it no longer counts, until it answers again: so 0 means no node
// is known to work, which a readiness probe can report.
func (p *Pool) Healthy() int {
	count := 0
	for _, n := range p.table.Load().healthy {
		if n.serving() {
			count++
		}
	}
	return count
}

// Exchange sends q for key (for the resolver: name + "|" + cache scope) to the key's nodes in order
// until one gives a valid reply, hedging a late node (see the package documentation). q must carry
// one question; it is not modified after Exchange returns, but may be packed meanwhile.
//
// When MaxInflight exchanges are running it waits up to InflightWait, or until ctx ends, for one of
// them to finish, then fails with ErrBusy. A name that fails the same way on two nodes fails with
// ErrNameFailed; otherwise, when no node answers, the error joins every attempt's error.
func (p *Pool) Exchange(ctx context.Context, q *dns.Msg, key string) (*dns.Msg, error) {
	if !p.acquire(ctx, true) {
		return nil, ErrBusy
	}
	defer func() { <-p.slots }()
	return p.exchange(ctx, q, key)
}

// TryExchange is Exchange for background work (refreshes, prefetches): it fails with ErrBusy at once,
// without waiting, when MaxInflight exchanges are running, so background work never queues in
// front of clients.
func (p *Pool) TryExchange(ctx context.Context, q *dns.Msg, key string) (*dns.Msg, error) {
	if !p.acquire(ctx, false) {
		return nil, ErrBusy
	}
	defer func() { <-p.slots }()
	return p.exchange(ctx, q, key)
}

// acquire takes an exchange slot, waiting up to InflightWait (or ctx's end) when wait is set.
func (p *Pool) acquire(ctx context.Context, wait bool) bool {
	select {
	case p.slots <- struct{}{}:
		return true
	default:
	}
	if wait && p.cfg.InflightWait > 0 {
		t := time.NewTimer(p.cfg.InflightWait)
		defer t.Stop()
		select {
		case p.slots <- struct{}{}:
			return true
		case <-t.C:
		case <-ctx.Done():
		}
	}
	caller := "background"
	if wait {
		caller = "client"
	}
	p.m.busy.WithLabelValues(caller).Inc()
	return false
}

// order appends to buf the nodes to ask for key, in order: its healthy nodes first, the key's own
// node first among them unless it is overloaded, then the ejected nodes as a last resort.
func (p *Pool) order(key string, buf []*node) []*node {
	return p.table.Load().order(key, buf)
}

// try sends q to one node over UDP, retries over TCP when the reply is truncated, validates the
// reply and feeds the outcome to the node's health. The attempt gets at most the per-attempt
// timeout, so one silent node cannot eat the whole request deadline.
func (p *Pool) try(ctx context.Context, q *dns.Msg, n *node) (*dns.Msg, error) {
	n.inflight.Add(1)
	defer n.inflight.Add(-1)
	actx, cancel := context.WithTimeout(ctx, p.cfg.AttemptTimeout)
	defer cancel()
	start := time.Now()
	reply, err := p.udp.Exchange(actx, q, n.addr)
	if err == nil && reply.Truncated {
		p.m.attempt(n.addr, resultTruncated, time.Since(start))
		reply, err = p.tcp.Exchange(actx, q, n.addr)
	}
	if err == nil {
		err = validateReply(q, reply)
	}
	p.observe(ctx, q, n, err, time.Since(start))
	return reply, err
}

// observe counts one attempt on n for q that took d and feeds it to n's health: only evidence about
// the node counts against it (see the package documentation). An attempt the caller gave up on (ctx
// ended: another node answered first, or the request's deadline passed) is no failure of the node;
// it only says the node is at least that slow.
func (p *Pool) observe(ctx context.Context, q *dns.Msg, n *node, err error, d time.Duration) {
	result := attemptResult(err)
	if err != nil && ctx.Err() != nil {
		result = resultCancelled
	}
	switch result {
	case resultOK:
		p.m.attempt(n.addr, result, d)
		n.recordSuccess(p.cfg.Now(), d)
		p.maybeCheckSlow(n)
	case resultCancelled:
		p.m.queries.WithLabelValues(n.addr, result).Inc()
		n.recordLowerBound(d)
	case resultLocal:
		p.m.queries.WithLabelValues(n.addr, result).Inc() // nothing was sent: nothing about the node
	case resultServfail, resultRefused, resultBadReply:
		p.m.attempt(n.addr, result, d)
		n.recordNameFailure()
	case resultTimeout:
		p.m.attempt(n.addr, result, d)
		confirm, eject := n.recordTimeout(p.cfg.Now(), nameHash(q), p.cfg.CheckTimeoutNames, p.cfg.EjectErrorRate)
		if eject {
			p.eject(n, reasonErrors)
		}
		if confirm {
			p.confirm(n)
		}
	default: // a network error: the node's
		p.m.attempt(n.addr, result, d)
		if n.recordFailure(p.cfg.Now(), p.cfg.EjectErrorRate) {
			p.eject(n, reasonErrors)
		}
	}
}

// nameHash identifies q's name, case folded, for counting the distinct names that time out.
func nameHash(q *dns.Msg) uint64 {
	if len(q.Question) == 0 {
		return 0
	}
	var buf [256]byte
	b := buf[:0]
	for i := range len(q.Question[0].Name) {
		c := q.Question[0].Name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return xxhash.Sum64(b)
}
