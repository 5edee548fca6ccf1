package resolver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// pool sends upstream queries to the recursive nodes (DESIGN.md §3 step 6).
//
// A key (name + "|" + scope) hashes to one of a fixed set of partitions, and each partition has a
// preference order over the nodes: an owner from consistent's bounded-load ring, then the others
// (pool_ring.go). The first healthy node in that order answers the key, so one subnet's answer for one
// name is always asked of the same node and its recursive cache stays warm.
//
// Live traffic keeps each node's error rate and latency EWMA (health.go). A node that fails too often,
// or answers far slower than the others, is ejected: a new routing snapshot puts it last in every
// order, so exactly its keys move, spread over the other nodes. Active checks (health_check.go) bring
// it back when it answers well again. When a node is late for a query (past its recent p95), the next
// node is asked too and the first valid reply wins (hedge.go).
type pool struct {
	cfg     poolConfig
	nodes   []*upstreamNode
	prefs   [][]*upstreamNode         // each partition's preference order; fixed
	table   atomic.Pointer[ringTable] // the routing now; replaced on ejection and readmission
	mu      sync.Mutex                // serialises ejections and readmissions
	udp     Exchanger
	tcp     Exchanger
	metrics *metrics
	pm      *poolMetrics

	cancel  context.CancelFunc // stops the checker
	wg      sync.WaitGroup
	closing sync.Once
}

// newPool builds the pool over cfg.addrs and starts its active checker, which runs every
// cfg.checkInterval (none when it is 0) until close.
func newPool(cfg poolConfig, m *metrics) (*pool, error) {
	if len(cfg.addrs) == 0 {
		return nil, errNoUpstream
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	nodes := make([]*upstreamNode, 0, len(cfg.addrs))
	for _, a := range cfg.addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("upstream %q: %w", a, err)
		}
		nodes = append(nodes, newUpstreamNode(a))
	}
	prefs, err := preferences(nodes)
	if err != nil {
		return nil, err
	}
	p := &pool{
		cfg:     cfg,
		nodes:   nodes,
		prefs:   prefs,
		udp:     clientExchanger{&dns.Client{Net: "udp", UDPSize: dns.DefaultMsgSize}},
		tcp:     clientExchanger{&dns.Client{Net: "tcp"}},
		metrics: m,
		pm:      newPoolMetrics(cfg.registerer, nodes),
	}
	p.table.Store(newRingTable(prefs, nodes))
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	if cfg.checkInterval > 0 {
		p.wg.Go(func() { p.runChecks(ctx) })
	}
	return p, nil
}

// close stops the active checker and waits for it. Queries still running end on their own deadline;
// exchange leaves no goroutine behind.
func (p *pool) close() {
	p.closing.Do(func() {
		p.cancel()
		p.wg.Wait()
	})
}

// order appends to buf the nodes to ask for key, in order: its healthy nodes first, the key's own
// node first among them unless it is overloaded, then the ejected nodes as a last resort.
func (p *pool) order(key string, buf []*upstreamNode) []*upstreamNode {
	return p.table.Load().order(key, buf)
}

// try sends q to one node over UDP, retries over TCP when the reply is truncated, validates the
// reply and feeds the outcome to the node's health. The attempt gets at most the per-attempt
// timeout, so one silent node cannot eat the whole request deadline.
func (p *pool) try(ctx context.Context, q *dns.Msg, n *upstreamNode) (*dns.Msg, error) {
	n.inflight.Add(1)
	defer n.inflight.Add(-1)
	actx, cancel := context.WithTimeout(ctx, p.cfg.attempt)
	defer cancel()
	start := time.Now()
	reply, err := p.udp.Exchange(actx, q, n.addr)
	if err == nil && reply.Truncated {
		p.metrics.upstream(n.addr, resultTruncated, time.Since(start))
		reply, err = p.tcp.Exchange(actx, q, n.addr)
	}
	if err == nil {
		err = validateReply(q, reply)
	}
	p.observe(ctx, n, err, time.Since(start))
	return reply, err
}

// observe counts one attempt that took d and feeds it to the node's health. An attempt the caller
// gave up on (ctx ended: another node answered first, or the request's deadline passed) is no
// failure of the node; it only says the node is at least that slow.
func (p *pool) observe(ctx context.Context, n *upstreamNode, err error, d time.Duration) {
	result := attemptResult(err)
	if err != nil && ctx.Err() != nil {
		result = resultCancelled
	}
	switch result {
	case resultOK:
		p.metrics.upstream(n.addr, result, d)
		n.recordSuccess(p.cfg.now(), d)
		p.maybeEjectSlow(n)
	case resultCancelled:
		p.metrics.upstreamQueries.WithLabelValues(n.addr, result).Inc()
		n.recordLowerBound(d)
	default:
		p.metrics.upstream(n.addr, result, d)
		if n.recordFailure(p.cfg.now(), p.cfg.ejectRate) {
			p.eject(n, reasonErrors)
		}
	}
}
