package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestPoolReusesSockets: sequential queries to one node share one UDP socket (one source port at
// the server) instead of opening one each; a socket that timed out is not reused.
func TestPoolReusesSockets(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 1, nil)
	srv := e.nodes[0]
	for i := range 100 {
		e.ask(t, fmt.Sprintf("name-%d.test|block", i))
	}
	if got := srv.sourcePorts(); got != 1 {
		t.Errorf("100 sequential queries came from %d source ports, want 1", got)
	}
	srv.setName("mute.test", silent)
	if _, err := e.exchange("mute.test|block"); err == nil {
		t.Fatal("a silent name answered")
	}
	e.ask(t, "after.test|block")
	if got := srv.sourcePorts(); got != 2 {
		t.Errorf("after a timeout: %d source ports, want 2 (the timed-out socket closed, a new one made)", got)
	}
}

// TestPoolSkipsStaleReplyOnReusedSocket: a reply that arrives after its query timed out would reach
// a reused socket; the socket is closed instead, and a late reply to a query on a socket still in
// use is skipped for its ID. Here the node answers the first query twice: the duplicate is read by
// the next exchange on the same socket, and skipped.
func TestPoolSkipsStaleReplyOnReusedSocket(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		first := true
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			m := new(dns.Msg)
			m.SetReply(q)
			m.SetEdns0(1232, false)
			if opt := q.IsEdns0(); opt != nil {
				m.IsEdns0().Option = opt.Option
			}
			out, _ := m.Pack()
			_, _ = pc.WriteTo(out, from)
			if first { // a duplicate of the first reply, left for the next exchange on the socket
				_, _ = pc.WriteTo(out, from)
				first = false
			}
		}
	}()
	p, err := New(Config{Addrs: []string{pc.LocalAddr().String()}, CheckInterval: -1, AttemptTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 3 {
		q := query(fmt.Sprintf("n%d.test", i))
		reply, err := p.Exchange(context.Background(), q, "k")
		if err != nil {
			t.Fatalf("exchange %d: %v", i, err)
		}
		if reply.Id != q.Id || reply.Question[0].Name != q.Question[0].Name {
			t.Fatalf("exchange %d got the reply to another query: %v", i, reply.Question[0])
		}
	}
}

// TestPoolLocalErrorsDoNotCount: attempts that fail before anything is sent (here: binding to an
// address this host does not have) never count against a node.
func TestPoolLocalErrorsDoNotCount(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 3, nil)
	p := e.pool
	p.sockets.client.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1)}}
	for i := range 3 * ejectMinAttempts {
		_, err := e.exchange(fmt.Sprintf("name-%d.test|block", i))
		if err == nil {
			t.Fatal("an exchange succeeded without a socket")
		}
		if errors.Is(err, ErrNameFailed) {
			t.Fatalf("local errors reported as the name's: %v", err)
		}
	}
	p.checks.Wait()
	for _, n := range p.nodes {
		if !n.healthy.Load() {
			t.Errorf("node %s ejected for local errors", n.addr)
		}
		if n.suspect.Load() {
			t.Errorf("node %s suspect after local errors", n.addr)
		}
	}
	local := 0
	for _, n := range p.nodes {
		local += e.counter(t, p.m.queries, n.addr, resultLocal)
	}
	if local != 3*3*ejectMinAttempts {
		t.Errorf("queries{local_error} = %d, want %d", local, 3*3*ejectMinAttempts)
	}
	for _, s := range e.nodes {
		if got := s.queries.Load(); got != 0 {
			t.Errorf("node %s got %d queries", s.addr, got)
		}
	}
}

// TestPoolInflightCap: past MaxInflight exchanges a client's exchange waits InflightWait for a slot,
// then fails with ErrBusy; a background one fails at once; a slot that comes free in time is taken.
func TestPoolInflightCap(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 1, func(c *Config) {
		c.MaxInflight = 2
		c.InflightWait = 50 * time.Millisecond
		c.AttemptTimeout = 2 * time.Second
	})
	p, srv := e.pool, e.nodes[0]
	arrived := make(chan string, 8)
	srv.mu.Lock()
	srv.arrived = arrived
	srv.mu.Unlock()
	srv.setDelay(400 * time.Millisecond)

	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			if _, err := p.Exchange(context.Background(), query(fmt.Sprintf("slow-%d.test", i)), "k"); err != nil {
				t.Errorf("exchange holding a slot: %v", err)
			}
		})
	}
	<-arrived
	<-arrived // both slots taken

	start := time.Now()
	_, err := p.Exchange(context.Background(), query("third.test"), "k")
	waited := time.Since(start)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("third exchange: %v, want ErrBusy", err)
	}
	if waited < 50*time.Millisecond || waited > 300*time.Millisecond {
		t.Errorf("third exchange gave up after %v, want about InflightWait (50ms)", waited)
	}
	start = time.Now()
	if _, err := p.TryExchange(context.Background(), query("background.test"), "k"); !errors.Is(err, ErrBusy) {
		t.Fatalf("background exchange: %v, want ErrBusy", err)
	}
	if d := time.Since(start); d > 20*time.Millisecond {
		t.Errorf("background exchange waited %v, want no wait", d)
	}
	if got := e.counter(t, p.m.busy, "client"); got != 1 {
		t.Errorf("busy{client} = %d, want 1", got)
	}
	if got := e.counter(t, p.m.busy, "background"); got != 1 {
		t.Errorf("busy{background} = %d, want 1", got)
	}
	if srv.asked("third.test")+srv.asked("background.test") != 0 {
		t.Error("a refused exchange reached the node")
	}
	// A client that waits long enough gets the slot of one that finishes.
	srv.setDelay(0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p.cfg.InflightWait = time.Second // read only by acquire, on this goroutine
	if _, err := p.Exchange(ctx, query("patient.test"), "k"); err != nil {
		t.Errorf("an exchange that waits for a slot: %v", err)
	}
	wg.Wait()
	if n := len(p.slots); n != 0 {
		t.Errorf("%d slots still held after every exchange ended", n)
	}
}

// TestPoolHedgeBurstBounded: after warming up on quick replies (a low p95), a burst of names that
// every node answers slowly (names the recursive servers resolve from scratch) is late on every
// node; the hedge budget keeps the burst to about one query a name.
func TestPoolHedgeBurstBounded(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 3, func(c *Config) { c.AttemptTimeout = time.Second })
	p := e.pool
	for _, n := range p.nodes {
		for _, k := range e.keysOf(n, 2*hedgeMinSamples) {
			e.ask(t, k)
		}
		if n.p95.Load() == 0 {
			t.Fatal("no p95 after the warm-up")
		}
	}
	for _, s := range e.nodes {
		s.setDelay(30 * time.Millisecond)
	}
	before := int64(0)
	for _, s := range e.nodes {
		before += s.queries.Load()
	}
	const names = 10
	var wg sync.WaitGroup
	for i := range names {
		wg.Go(func() {
			k := fmt.Sprintf("new-%d.test|block", i)
			if _, err := e.exchange(k); err != nil {
				t.Errorf("%s: %v", k, err)
			}
		})
	}
	wg.Wait()
	sent := int64(0)
	for _, s := range e.nodes {
		sent += s.queries.Load()
	}
	sent -= before
	if limit := int64(names * 3 / 2); sent > limit {
		t.Errorf("%d new names cost %d upstream queries, want at most %d", names, sent, limit)
	}
	t.Logf("%d new names: %d upstream queries", names, sent)
}

func TestHedgeBudget(t *testing.T) {
	t.Parallel()
	var b hedgeBudget
	b.init()
	for i := range hedgeBurst {
		if !b.spend() {
			t.Fatalf("hedge %d of the burst refused", i)
		}
	}
	if b.spend() {
		t.Fatal("a hedge past the burst allowed")
	}
	for range hedgeShare - 1 {
		b.earn()
	}
	if b.spend() {
		t.Fatalf("a hedge allowed after %d exchanges", hedgeShare-1)
	}
	b.earn()
	if !b.spend() {
		t.Fatalf("no hedge after %d exchanges", hedgeShare)
	}
	for range 100 * hedgeShare {
		b.earn()
	}
	spent := 0
	for b.spend() {
		spent++
	}
	if spent != hedgeBurst {
		t.Errorf("saved up %d hedges, want at most %d", spent, hedgeBurst)
	}
}

// TestPoolCloseLeavesNoGoroutines runs a pool with its checker ticking, a silent node, a slow node,
// hedged queries and confirming checks, closes it, and expects the goroutine count back where it
// was. It is not parallel: it counts the process's goroutines.
func TestPoolCloseLeavesNoGoroutines(t *testing.T) {
	nodes := startNodes(t, 3)
	before := runtime.NumGoroutine()
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.addr)
	}
	p, err := New(Config{Addrs: addrs, AttemptTimeout: 200 * time.Millisecond, CheckInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := &poolEnv{nodes: nodes, pool: p}
	slow, mute := p.nodes[0], p.nodes[1]
	keys := e.keysOf(slow, hedgeMinSamples+3)
	for _, k := range keys[:hedgeMinSamples] {
		e.ask(t, k)
	}
	e.server(mute).set(silent)
	e.server(slow).setDelay(30 * time.Millisecond)
	for _, k := range keys[hedgeMinSamples:] {
		e.ask(t, k) // hedged: the slow node's attempt is cancelled
	}
	for _, k := range e.keysOf(mute, 4) {
		e.ask(t, k) // retried on the next node after a timeout; a confirming check starts
	}
	p.Close()

	// Servers still finish the slow replies they were sleeping on; give them a bounded while.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before,
				buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
