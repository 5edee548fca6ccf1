package upstream

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// clock is a fake clock for the health windows, so they age without sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// poolEnv is a pool over scripted in-process nodes, with a fake clock for its health windows. Its
// periodic checker never runs during a test; tests call checkOnce.
type poolEnv struct {
	nodes []*testNode
	pool  *Pool
	clock *clock
	reg   *prometheus.Registry
}

func newPoolEnv(t testing.TB, count int, mod func(*Config)) *poolEnv {
	t.Helper()
	e := &poolEnv{nodes: startNodes(t, count), clock: &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		reg: prometheus.NewRegistry()}
	var addrs []string
	for _, n := range e.nodes {
		addrs = append(addrs, n.addr)
	}
	cfg := Config{Addrs: addrs, AttemptTimeout: 100 * time.Millisecond, CheckInterval: -1, Now: e.clock.Now,
		Registerer: e.reg}
	if mod != nil {
		mod(&cfg)
	}
	var err error
	e.pool, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.pool.Close)
	return e
}

// server is the scripted node behind n.
func (e *poolEnv) server(n *node) *testNode {
	for _, s := range e.nodes {
		if s.addr == n.addr {
			return s
		}
	}
	panic("no server for " + n.addr)
}

// keysOf returns count keys whose first node is n, each for its own name: name-<i>.test|block.
func (e *poolEnv) keysOf(n *node, count int) []string {
	var keys []string
	for i := 0; len(keys) < count; i++ {
		k := fmt.Sprintf("name-%d.test|block", i)
		if e.pool.order(k, nil)[0] == n {
			keys = append(keys, k)
		}
	}
	return keys
}

// nameOf is the name of a key made by keysOf.
func nameOf(key string) string {
	for i := range len(key) {
		if key[i] == '|' {
			return key[:i]
		}
	}
	return key
}

// exchange exchanges one query for key's name within a second.
func (e *poolEnv) exchange(key string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return e.pool.Exchange(ctx, query(nameOf(key)), key)
}

// ask exchanges one query for key and fails the test unless a valid reply comes within a second.
func (e *poolEnv) ask(t testing.TB, key string) {
	t.Helper()
	reply, err := e.exchange(key)
	if err != nil {
		t.Fatalf("exchange for %s: %v", key, err)
	}
	if reply.Rcode != dns.RcodeSuccess {
		t.Fatalf("exchange for %s: rcode %s", key, dns.RcodeToString[reply.Rcode])
	}
}

func (e *poolEnv) counter(t testing.TB, c *prometheus.CounterVec, labels ...string) int {
	t.Helper()
	return int(testutil.ToFloat64(c.WithLabelValues(labels...)))
}

// owners returns the first node of every key, with no load on any node.
func owners(p *Pool, keys []string) []*node {
	out := make([]*node, len(keys))
	for i, k := range keys {
		out[i] = p.order(k, nil)[0]
	}
	return out
}

// offlinePool is a pool over addresses nothing listens on, for routing tests that send nothing.
func offlinePool(t testing.TB, nodes int) *Pool {
	t.Helper()
	var addrs []string
	for i := range nodes {
		addrs = append(addrs, fmt.Sprintf("127.0.0.%d:53", i+1))
	}
	p, err := New(Config{Addrs: addrs, AttemptTimeout: time.Second, CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}
