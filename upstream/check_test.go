package upstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPoolEjectsSilentNodeAndReadmits(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 3, nil)
	p := e.pool
	mute := p.nodes[1]
	mine := e.keysOf(mute, 12)
	var others []string
	for _, n := range p.nodes {
		if n != mute {
			others = append(others, e.keysOf(n, 10)...)
		}
	}
	othersBefore := owners(p, others)

	e.server(mute).set(silent)
	// Every query still succeeds (the next node answers after the attempt timeout). Timeouts on
	// CheckTimeoutNames distinct names start a check of the known-good name, which times out too:
	// from then on the timeouts are the node's, and the error rate ejects it.
	names := p.cfg.CheckTimeoutNames
	for _, k := range mine[:names] {
		e.ask(t, k)
	}
	p.checks.Wait()
	if got := e.counter(t, p.m.checks, mute.addr, resultTimeout); got != 1 {
		t.Fatalf("checks{timeout} after %d timed out names = %d, want 1", names, got)
	}
	more := ejectMinAttempts - names - 1 // the check's failure counts too
	for i, k := range mine[names : names+more] {
		if !mute.healthy.Load() {
			t.Fatalf("ejected after %d more timeouts, want %d", i, more)
		}
		e.ask(t, k)
	}
	if mute.healthy.Load() {
		t.Fatalf("still healthy after %d timeouts and a failed check", names+more)
	}
	if got := e.counter(t, p.m.ejections, mute.addr, reasonErrors); got != 1 {
		t.Errorf("ejections{errors} = %d, want 1", got)
	}
	if got := e.counter(t, p.m.queries, mute.addr, resultTimeout); got != names+more {
		t.Errorf("timeouts counted %d, want %d", got, names+more)
	}
	if !slices.Equal(owners(p, others), othersBefore) {
		t.Error("keys of the healthy nodes moved")
	}
	// Ejected, it gets no live traffic: its keys go straight to the next node.
	asked := e.server(mute).queries.Load()
	for _, k := range mine {
		e.ask(t, k)
	}
	if got := e.server(mute).queries.Load(); got != asked {
		t.Errorf("the ejected node received %d more queries", got-asked)
	}

	// Back to normal, it needs readmitChecks good checks in a row; a failed one starts over.
	ctx := context.Background()
	e.server(mute).set(normal)
	p.checkOnce(ctx)
	p.checkOnce(ctx)
	e.server(mute).set(silent)
	p.checkOnce(ctx)
	e.server(mute).set(normal)
	for i := range readmitChecks {
		if mute.healthy.Load() {
			t.Fatalf("readmitted after %d good checks in a row", i)
		}
		p.checkOnce(ctx)
	}
	if !mute.healthy.Load() {
		t.Fatalf("not readmitted after %d good checks", readmitChecks)
	}
	if got := e.counter(t, p.m.checks, mute.addr, resultOK); got != readmitChecks+2 {
		t.Errorf("checks{ok} = %d, want %d", got, readmitChecks+2)
	}
	if got := e.counter(t, p.m.checks, mute.addr, resultTimeout); got != 2 {
		t.Errorf("checks{timeout} = %d, want 2", got)
	}
	for _, k := range mine {
		if p.order(k, nil)[0] != mute {
			t.Fatalf("key %s did not come back to its node", k)
		}
	}
	e.ask(t, mine[0])
}

// TestPoolEjectsDeadNode: a node whose port is closed answers every query with a network error
// (ICMP port unreachable), which is the node's own failure.
func TestPoolEjectsDeadNode(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 3, nil)
	p := e.pool
	dead := p.nodes[0]
	e.server(dead).stop()
	keys := e.keysOf(dead, ejectMinAttempts+2)
	for i, k := range keys {
		if !dead.healthy.Load() {
			if i < ejectMinAttempts {
				t.Errorf("ejected after %d failures, want %d", i, ejectMinAttempts)
			}
			break
		}
		e.ask(t, k)
	}
	p.checks.Wait()
	if dead.healthy.Load() {
		t.Fatalf("a closed node is still healthy; queries %v", testutil.ToFloat64(p.m.queries.WithLabelValues(dead.addr, resultError)))
	}
}

// TestPoolBrokenNodeEjectedByChecks: a node that answers but resolves nothing (SERVFAIL for every
// name, the known-good one included) is found by the checks its SERVFAILs trigger.
func TestPoolBrokenNodeEjectedByChecks(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 3, nil)
	p := e.pool
	broken := p.nodes[2]
	e.server(broken).set(servfail)
	keys := e.keysOf(broken, 2)
	e.ask(t, keys[0]) // SERVFAIL from its node, the answer from the next
	if !broken.healthy.Load() || !broken.suspect.Load() {
		t.Fatalf("after one SERVFAIL: healthy %v suspect %v, want healthy and suspect", broken.healthy.Load(), broken.suspect.Load())
	}
	rounds := 0
	for broken.healthy.Load() && rounds < 2*ejectMinAttempts {
		p.checkOnce(context.Background())
		rounds++
	}
	if broken.healthy.Load() {
		t.Fatalf("still healthy after %d failed checks", rounds)
	}
	if rounds != ejectMinAttempts {
		t.Errorf("ejected after %d failed checks, want %d", rounds, ejectMinAttempts)
	}
	if got := e.counter(t, p.m.checks, broken.addr, resultServfail); got != rounds {
		t.Errorf("checks{servfail} = %d, want %d", got, rounds)
	}
}

// TestPoolClientCannotEjectNodes: a client asking names that SERVFAIL, are REFUSED or time out on
// every node (the names' problem) ejects no node, each such name costs at most two queries, and a
// good name is still answered by its own node.
func TestPoolClientCannotEjectNodes(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 3, nil)
	p := e.pool
	kinds := []behavior{servfail, refused, silent}
	var bad []string
	for i := range 30 {
		name := fmt.Sprintf("bad-%d.test", i)
		for _, n := range e.nodes {
			n.setName(name, kinds[i%len(kinds)])
		}
		bad = append(bad, name)
	}
	for i, name := range bad {
		_, err := e.exchange(name + "|block")
		if !errors.Is(err, ErrNameFailed) {
			t.Fatalf("%s: err = %v, want ErrNameFailed", name, err)
		}
		want := []error{ErrServfail, ErrRefused, context.DeadlineExceeded}[i%len(kinds)]
		if !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want it to wrap %v", name, err, want)
		}
		asked := 0
		for _, n := range e.nodes {
			asked += n.asked(name)
		}
		if asked > 2 {
			t.Errorf("%s cost %d upstream queries, want at most 2", name, asked)
		}
	}
	p.checks.Wait()
	for range 3 {
		p.checkOnce(context.Background()) // the suspect nodes are checked, and pass
	}
	for _, n := range p.nodes {
		if !n.healthy.Load() {
			t.Errorf("node %s ejected by bad names", n.addr)
		}
		if got := e.counter(t, p.m.ejections, n.addr, reasonErrors); got != 0 {
			t.Errorf("node %s: ejections{errors} = %d", n.addr, got)
		}
	}
	if p.Healthy() != 3 {
		t.Errorf("Healthy() = %d, want 3", p.Healthy())
	}
	for _, own := range p.nodes {
		key := e.keysOf(own, 1)[0]
		before := e.server(own).asked(nameOf(key))
		e.ask(t, key)
		if e.server(own).asked(nameOf(key)) != before+1 {
			t.Errorf("good name %s not answered by its own node %s", nameOf(key), own.addr)
		}
	}
}

// TestPoolNameFailedOnlySameWay: two nodes failing a name in different ways are no evidence about
// the name; the third node is asked.
func TestPoolNameFailedOnlySameWay(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 3, nil)
	key := "mixed.test|block"
	order := e.pool.order(key, nil)
	e.server(order[0]).setName("mixed.test", servfail)
	e.server(order[1]).setName("mixed.test", refused)
	e.ask(t, key)
	if got := e.server(order[2]).asked("mixed.test"); got != 1 {
		t.Errorf("third node asked %d times, want 1", got)
	}
}

func TestPoolEjectsSlowNode(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 3, func(c *Config) { c.AttemptTimeout = 500 * time.Millisecond })
	p := e.pool
	slow := p.nodes[0]
	for _, n := range p.nodes[1:] {
		for _, k := range e.keysOf(n, 3) {
			e.ask(t, k) // the others' latency to compare with
		}
	}
	e.server(slow).setDelay(120 * time.Millisecond)
	mine := e.keysOf(slow, slowMinSamples)
	for _, k := range mine {
		e.ask(t, k) // answered, slowly: not a failure
	}
	p.checks.Wait() // the check of the known-good name it started is slow too
	if slow.healthy.Load() {
		t.Fatalf("a node with latency EWMA %v is still healthy", time.Duration(slow.ewma.Load()))
	}
	if got := e.counter(t, p.m.ejections, slow.addr, reasonSlow); got != 1 {
		t.Errorf("ejections{slow} = %d, want 1", got)
	}
	if got := e.counter(t, p.m.queries, slow.addr, resultOK); got != slowMinSamples {
		t.Errorf("ok attempts %d, want %d", got, slowMinSamples)
	}

	// Alive but still slow: checks succeed, but do not readmit it.
	ctx := context.Background()
	for range readmitChecks + 1 {
		p.checkOnce(ctx)
	}
	if slow.healthy.Load() {
		t.Fatal("readmitted while still slow")
	}
	e.server(slow).setDelay(0)
	for range readmitChecks {
		p.checkOnce(ctx)
	}
	if !slow.healthy.Load() {
		t.Fatal("not readmitted once fast again")
	}
	if ewma := time.Duration(slow.ewma.Load()); ewma > slowFloor {
		t.Errorf("readmitted with latency EWMA %v: it would be ejected again", ewma)
	}
}

func TestPoolTriesEjectedNodesLastResort(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 3, nil)
	p := e.pool
	key := e.keysOf(p.nodes[0], 1)[0]
	order := p.order(key, nil)
	// Two nodes ejected (they answer again, but no check has readmitted them), the last healthy
	// one silent: the query falls through to the ejected nodes rather than failing.
	p.eject(order[0], reasonErrors)
	p.eject(order[1], reasonErrors)
	last := p.table.Load().healthy[0]
	e.server(last).set(silent)
	e.ask(t, key)

	// Every node ejected (only possible by hand: the last one never is): all are still asked.
	for _, n := range p.nodes {
		n.healthy.Store(false)
	}
	p.table.Store(newRingTable(p.prefs, p.nodes))
	if got := p.order(key, nil); len(got) != len(p.nodes) {
		t.Fatalf("order with every node ejected: %v", got)
	}
	if p.Healthy() != 0 {
		t.Errorf("Healthy() = %d with every node ejected", p.Healthy())
	}
	e.ask(t, key)
}

func TestPoolHealthMetrics(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 2, nil)
	e.pool.eject(e.pool.nodes[0], reasonErrors)
	e.ask(t, "k.test|block")
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	healthy := map[string]float64{}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
		if f.GetName() != "httpdns_upstream_node_healthy" {
			continue
		}
		for _, m := range f.GetMetric() {
			healthy[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	for _, n := range []string{"httpdns_upstream_node_healthy", "httpdns_upstream_latency_ewma_seconds",
		"httpdns_upstream_ejections_total", "httpdns_upstream_hedges_total", "httpdns_upstream_inflight",
		"httpdns_upstream_checks_total", "httpdns_upstream_queries_total", "httpdns_upstream_duration_seconds",
		"httpdns_upstream_busy_total", "httpdns_upstream_exchanges_inflight"} {
		if !names[n] {
			t.Errorf("%s not exported", n)
		}
	}
	if healthy[e.pool.nodes[0].addr] != 0 || healthy[e.pool.nodes[1].addr] != 1 {
		t.Errorf("node_healthy = %v", healthy)
	}
	if got := testutil.ToFloat64(e.pool.m.ejections.WithLabelValues(e.pool.nodes[0].addr, reasonErrors)); got != 1 {
		t.Errorf("ejections = %v", got)
	}
}

// TestPoolHealthyCountsWorkingNodes: the last node is kept in the ring, but once it fails as an
// ejected one would, Healthy no longer counts it, until it answers a check again.
func TestPoolHealthyCountsWorkingNodes(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 2, nil)
	p := e.pool
	if got := p.Healthy(); got != 2 {
		t.Fatalf("Healthy() = %d, want 2", got)
	}
	for _, s := range e.nodes {
		s.set(silent)
	}
	for i := 0; p.Healthy() > 0 && i < 4*ejectMinAttempts; i++ {
		_, _ = e.exchange(fmt.Sprintf("name-%d.test|block", i))
		p.checks.Wait()
	}
	if got := p.Healthy(); got != 0 {
		t.Fatalf("Healthy() with every node silent = %d, want 0", got)
	}
	if got := len(p.table.Load().healthy); got != 1 {
		t.Errorf("%d nodes in the ring, want the last one kept", got)
	}
	for _, s := range e.nodes {
		s.set(normal)
	}
	p.checkOnce(context.Background())
	if got := p.Healthy(); got != 1 {
		t.Errorf("Healthy() after the last node answered a check = %d, want 1", got)
	}
}

// TestPoolCheckVerdicts: which replies to the known-good check name keep a suspect node in the ring.
func TestPoolCheckVerdicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reply behavior
		fails bool
	}{
		{"answer", normal, false},
		{"refused: reachable, not for that name", refused, false},
		{"servfail", servfail, true},
		{"silence", silent, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newPoolEnv(t, 2, nil)
			n := e.pool.nodes[0]
			e.server(n).setName(".", tc.reply)
			n.suspect.Store(true)
			for range ejectMinAttempts {
				e.pool.checkOnce(context.Background())
			}
			if n.healthy.Load() == tc.fails {
				t.Errorf("after %d checks answered %v: healthy %v", ejectMinAttempts, tc.reply, n.healthy.Load())
			}
		})
	}
}

// TestPoolSlowNamesDoNotEjectNodes: a name is slow when its authoritative servers are, on every
// node. A client asking such names of one node after another must not get the nodes ejected as
// slow: only a slow check of the known-good name says the node itself is slow.
func TestPoolSlowNamesDoNotEjectNodes(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 3, func(c *Config) { c.AttemptTimeout = 500 * time.Millisecond })
	p := e.pool
	for _, n := range p.nodes {
		for _, k := range e.keysOf(n, slowMinSamples) {
			e.ask(t, k) // every node has a latency history of fast answers
		}
	}
	slow := 0
	for _, n := range p.nodes[:2] {
		for asked := 0; asked < 2; slow++ {
			key := fmt.Sprintf("slow-%d.test|block", slow)
			if p.order(key, nil)[0] != n {
				continue
			}
			for _, s := range e.nodes {
				s.setNameDelay(nameOf(key), 150*time.Millisecond)
			}
			e.ask(t, key)
			asked++
		}
	}
	p.checks.Wait()
	for _, n := range p.nodes {
		if !n.healthy.Load() {
			t.Errorf("node %s ejected after slow names (latency EWMA %v)", n.addr, time.Duration(n.ewma.Load()))
		}
	}
	if got := p.Healthy(); got != 3 {
		t.Errorf("Healthy() = %d, want 3", got)
	}
}

// TestPoolUnreadableRepliesAreTheNames: a reply that arrives but cannot be read (here: a node that
// ignores the query's EDNS size, so the datagram is cut to it) came from a reachable node; like a
// reply that does not match, it is the name's problem. A client asking such names ejects no node,
// and each name costs at most two queries.
func TestPoolUnreadableRepliesAreTheNames(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 3, nil)
	p := e.pool
	for i := range ejectMinAttempts + 2 {
		name := fmt.Sprintf("big-%d.test", i)
		for _, s := range e.nodes {
			s.setName(name, oversize)
		}
		_, err := e.exchange(name + "|block")
		if !errors.Is(err, ErrNameFailed) {
			t.Errorf("%s: err = %v, want ErrNameFailed", name, err)
		}
		asked := 0
		for _, s := range e.nodes {
			asked += s.asked(name)
		}
		if asked > 2 {
			t.Errorf("%s cost %d upstream queries, want at most 2", name, asked)
		}
	}
	p.checks.Wait()
	p.checkOnce(context.Background()) // the suspect nodes are checked, and pass
	for _, n := range p.nodes {
		if !n.healthy.Load() {
			t.Errorf("node %s ejected by unreadable replies", n.addr)
		}
	}
	if got := p.Healthy(); got != 3 {
		t.Errorf("Healthy() = %d, want 3", got)
	}
}

// TestPoolHostileMixEjectsNothing: a client mixing every kind of bad name — silent everywhere or on
// one node only, slow everywhere, SERVFAIL, REFUSED, answered for another question, unreadable —
// with a few ordinary names, for well over the outcomes an error rate needs, gets no node ejected
// or marked down, and each name costs at most two upstream queries.
func TestPoolHostileMixEjectsNothing(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 3, func(c *Config) { c.AttemptTimeout = 300 * time.Millisecond })
	p := e.pool
	for i := range ejectMinAttempts {
		e.ask(t, fmt.Sprintf("warm-%d.test|block", i))
	}
	kinds := []behavior{silent, servfail, refused, mismatch, oversize}
	for i := range 5 * ejectMinAttempts {
		if i%5 == 0 {
			e.ask(t, fmt.Sprintf("good-%d.test|block", i))
		}
		name := fmt.Sprintf("bad-%d.test", i)
		key := name + "|block"
		switch k := i % 7; k {
		case 5: // silent on its first node only: answered by the next
			e.server(p.order(key, nil)[0]).setName(name, silent)
		case 6: // slow on every node
			for _, s := range e.nodes {
				s.setNameDelay(name, 200*time.Millisecond)
			}
		default:
			for _, s := range e.nodes {
				s.setName(name, kinds[k])
			}
		}
		_, _ = e.exchange(key)
		asked := 0
		for _, s := range e.nodes {
			asked += s.asked(name)
		}
		if asked > 2 {
			t.Errorf("%s (kind %d) cost %d upstream queries, want at most 2", name, i%7, asked)
		}
		p.checks.Wait()
		if i%4 == 3 {
			p.checkOnce(context.Background())
		}
	}
	for _, n := range p.nodes {
		if !n.healthy.Load() || n.down.Load() {
			t.Errorf("node %s: healthy %v down %v after a hostile mix", n.addr, n.healthy.Load(), n.down.Load())
		}
		for _, reason := range []string{reasonErrors, reasonSlow} {
			if got := e.counter(t, p.m.ejections, n.addr, reason); got != 0 {
				t.Errorf("node %s: ejections{%s} = %d", n.addr, reason, got)
			}
		}
	}
}
