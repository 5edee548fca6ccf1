package eval

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/resolver"
	"github.com/prometheus/client_golang/prometheus"
)

// Balance is how a fleet's load balancer picks the node for a request.
type Balance int

const (
	// RoundRobin sends each request to the next node in turn.
	RoundRobin Balance = iota
	// ConsistentHash sends a request by a consistent hash of the client's /24 (IPv6 /56) and the host,
	// as deploy/nginx's level-1 hashing does (docs/design.md §9.1).
	ConsistentHash
)

func (b Balance) String() string {
	if b == ConsistentHash {
		return "consistent hash"
	}
	return "round-robin"
}

// FleetSetup is one way of running a cache design on several nodes.
type FleetSetup struct {
	Nodes   int
	Balance Balance
	// L2 gives every node a shared answer cache (docs/design.md §9.5).
	L2 bool
}

// Name labels the setup's row.
func (s FleetSetup) Name() string {
	if s.Nodes == 1 {
		return "1 node"
	}
	n := fmt.Sprintf("%d nodes, %s", s.Nodes, s.Balance)
	if s.L2 {
		n += " + L2"
	}
	return n
}

// FleetL2 is one node's shared answer cache, as a fleet benchmark needs it: Flush waits until its writes
// are done, so the next request, a moment later in simulated time, sees them as it would a real moment later.
type FleetL2 interface {
	resolver.L2
	Flush(ctx context.Context) error
}

// FleetResult is one setup's row.
type FleetResult struct {
	Setup    FleetSetup
	Requests int
	// HitRatio is the share of requests a node answered from its own cache (fresh or within the grace).
	HitRatio float64
	// L2Ratio is the share of requests answered from the shared cache: another node's fetch.
	L2Ratio         float64
	UpstreamPer1k   float64 // upstream queries per 1000 requests, background refreshes included
	MisroutesPer10k float64
	// Refreshes counts the background refreshes sent upstream, all nodes together, by kind.
	Refreshes map[string]int
}

// RunFleet sends the workload through s.Nodes resolvers built as c says, sharing one simulated clock and
// the world's DNS servers, each request to the node s.Balance picks; with s.L2, newL2 gives each node its
// shared answer cache.
func RunFleet(ctx context.Context, e *Env, c Cache, w Workload, s FleetSetup, newL2 func() (FleetL2, error)) (FleetResult, error) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	start := clk.Now()
	db, wl, err := openShared(e, c)
	if err != nil {
		return FleetResult{}, err
	}
	defer db.Close()
	nodes := make([]*node, s.Nodes)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.close()
			}
		}
	}()
	for i := range nodes {
		var l2 FleetL2
		if s.L2 {
			if l2, err = newL2(); err != nil {
				return FleetResult{}, err
			}
		}
		if nodes[i], err = newNode(e, c, db, wl, clk, l2); err != nil {
			return FleetResult{}, err
		}
	}
	pick := balancer(s)
	before := e.queries()
	res := FleetResult{Setup: s, Refreshes: map[string]int{}}
	var hits, fromL2, misroutes int
	nextSweep := time.Duration(0)
	active := strings.Contains(c.Whitelist, "active")
	for i, q := range w.requests(e.World, e.Names()) {
		clk.set(start.Add(q.at))
		if active && q.at >= nextSweep {
			for _, n := range nodes {
				n.r.Sweep()
			}
			nextSweep = q.at + time.Second
		}
		n := nodes[pick(i, q)]
		a, err := n.r.Resolve(ctx, resolver.Query{Name: q.name, Qtype: q.qtype, Client: q.client})
		if err != nil {
			return res, fmt.Errorf("resolving %s for %v: %w", q.name, q.client, err)
		}
		switch a.Source {
		case "miss":
			if n.l2 != nil {
				if err := n.l2.Flush(ctx); err != nil {
					return res, err
				}
			}
		case "l2":
			fromL2++
		default:
			hits++
		}
		if !rightAnswer(a.IPs, e.World.Truth(q.name, q.qtype, q.client)) {
			misroutes++
		}
		res.Requests++
	}
	for i, n := range nodes {
		n.close()
		nodes[i] = nil
		sent, _, err := refreshCounts(n.reg)
		if err != nil {
			return res, err
		}
		for k, v := range sent {
			res.Refreshes[k] += v
		}
	}
	total := float64(res.Requests)
	res.HitRatio, res.L2Ratio = float64(hits)/total, float64(fromL2)/total
	res.UpstreamPer1k = float64(e.queries()-before) * 1000 / total
	res.MisroutesPer10k = float64(misroutes) * 10000 / total
	return res, nil
}

// openShared opens what every node of a run shares: the geo databases with c's CIDRDB, and c's
// whitelist.
func openShared(e *Env, c Cache) (*cidrdb.DB, *resolver.Whitelist, error) {
	db, err := cidrdb.Open(cidrdb.Config{CityPath: e.City, ISPPath: e.ISP, CIDRDBPath: c.CIDRDB})
	if err != nil {
		return nil, nil, err
	}
	wl, err := resolver.OpenWhitelist("", c.DefaultTier)
	if err == nil {
		err = wl.Replace([]byte(c.Whitelist))
	}
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, wl, nil
}

// node is one resolver built as c says, with its own cache and registry: the one node of Run, or one
// of RunFleet's.
type node struct {
	r   *resolver.Resolver
	ch  *cache.Cache
	l2  FleetL2
	reg *prometheus.Registry
}

// newNode builds a node on the shared databases and whitelist and the simulated clock; l2, when not
// nil, is its shared answer cache.
func newNode(e *Env, c Cache, db *cidrdb.DB, wl *resolver.Whitelist, clk *clock, l2 FleetL2) (*node, error) {
	ch, err := cache.New(cache.Config{MaxBytes: 512 << 20, Now: clk.Now})
	if err != nil {
		return nil, err
	}
	prefetch := c.Prefetch
	if prefetch == 0 {
		prefetch = -1
	}
	n := &node{ch: ch, l2: l2, reg: prometheus.NewRegistry()}
	cfg := resolver.Config{Registerer: n.reg, Upstreams: e.upstreams(), Locator: db, Cache: ch, Policy: wl,
		PrefetchSiblings: prefetch, ActiveMinAsks: c.ActiveMinAsks,
		SweepInterval: 24 * time.Hour,                 // swept on the simulated clock by the run
		Accuracy:      checksConfig(c.Checks), L2: l2, // a nil FleetL2 converts to a nil resolver.L2
		Now: clk.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if n.r, err = resolver.New(cfg); err != nil {
		ch.Close()
		return nil, err
	}
	return n, nil
}

func (n *node) close() {
	n.r.Close()
	n.ch.Close()
}

// balancer returns the node index for the i-th request q.
func balancer(s FleetSetup) func(i int, q request) int {
	if s.Balance == RoundRobin || s.Nodes == 1 {
		return func(i int, _ request) int { return i % s.Nodes }
	}
	ring := newRing(s.Nodes)
	return func(_ int, q request) int {
		bits := 24
		if q.client.Is6() {
			bits = 56
		}
		p, _ := q.client.Prefix(bits)
		return ring.get(p.String() + "|" + q.name)
	}
}

// ring is a consistent-hash ring of nodes, each at ringPoints points (ketama-like, as nginx's
// `hash ... consistent`).
type ring struct {
	points []uint64
	owner  map[uint64]int
}

const ringPoints = 160

func newRing(nodes int) *ring {
	r := &ring{owner: map[uint64]int{}}
	for n := range nodes {
		for i := range ringPoints {
			h := xxhash.Sum64String("node-" + strconv.Itoa(n) + "-" + strconv.Itoa(i))
			r.points = append(r.points, h)
			r.owner[h] = n
		}
	}
	slices.Sort(r.points)
	return r
}

func (r *ring) get(key string) int {
	h := xxhash.Sum64String(key)
	i, _ := slices.BinarySearch(r.points, h)
	if i == len(r.points) {
		i = 0
	}
	return r.owner[r.points[i]]
}

// FleetTable renders fleet results as a Markdown table; the first row is the reference the others'
// upstream queries are compared with.
func FleetTable(results []FleetResult) string {
	var b strings.Builder
	b.WriteString("| setup | hit ratio (own cache) | from L2 | upstream queries /1k requests | × one node | misroutes /10k |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %.1f%% | %.1f%% | %.1f | %.2f | %.2f |\n", r.Setup.Name(), 100*r.HitRatio, 100*r.L2Ratio,
			r.UpstreamPer1k, r.UpstreamPer1k/results[0].UpstreamPer1k, r.MisroutesPer10k)
	}
	return b.String()
}
