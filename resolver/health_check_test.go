package resolver

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPoolEjectsSilentNodeAndReadmits(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 3, nil)
	p := e.pool
	silent := p.nodes[1]
	mine := e.keysOf(silent, 12)
	var others []string
	for _, n := range p.nodes {
		if n != silent {
			others = append(others, e.keysOf(n, 10)...)
		}
	}
	othersBefore := owners(p, others)

	e.server(silent).SetBehavior(cdnsim.Silent)
	// Every query still succeeds (the next node answers after the attempt timeout) and the tenth
	// failure in a row ejects the node.
	for i, k := range mine[:ejectMinAttempts] {
		if !silent.healthy.Load() {
			t.Fatalf("ejected after %d failures, want %d", i, ejectMinAttempts)
		}
		e.ask(t, k)
	}
	if silent.healthy.Load() {
		t.Fatalf("still healthy after %d failures", ejectMinAttempts)
	}
	if got := e.counter(t, p.pm.ejections, silent.addr, reasonErrors); got != 1 {
		t.Errorf("ejections{errors} = %d, want 1", got)
	}
	if got := testutil.ToFloat64(p.metrics.upstreamQueries.WithLabelValues(silent.addr, "timeout")); got != ejectMinAttempts {
		t.Errorf("timeouts counted %v, want %d", got, ejectMinAttempts)
	}
	if !slices.Equal(owners(p, others), othersBefore) {
		t.Error("keys of the healthy nodes moved")
	}
	// Ejected, it gets no live traffic: its keys go straight to the next node.
	asked := e.server(silent).Queries()
	for _, k := range mine {
		e.ask(t, k)
	}
	if got := e.server(silent).Queries(); got != asked {
		t.Errorf("the ejected node received %d more queries", got-asked)
	}

	// Back to normal, it needs readmitChecks good checks in a row; a failed one starts over.
	ctx := context.Background()
	e.server(silent).SetBehavior(cdnsim.Normal)
	p.checkOnce(ctx)
	p.checkOnce(ctx)
	e.server(silent).SetBehavior(cdnsim.Silent)
	p.checkOnce(ctx)
	e.server(silent).SetBehavior(cdnsim.Normal)
	for i := range readmitChecks {
		if silent.healthy.Load() {
			t.Fatalf("readmitted after %d good checks in a row", i)
		}
		p.checkOnce(ctx)
	}
	if !silent.healthy.Load() {
		t.Fatalf("not readmitted after %d good checks", readmitChecks)
	}
	if got := e.counter(t, p.pm.checks, silent.addr, resultOK); got != readmitChecks+2 {
		t.Errorf("checks{ok} = %d, want %d", got, readmitChecks+2)
	}
	if got := e.counter(t, p.pm.checks, silent.addr, "timeout"); got != 1 {
		t.Errorf("checks{timeout} = %d, want 1", got)
	}
	for _, k := range mine {
		if p.order(k, nil)[0] != silent {
			t.Fatalf("key %s did not come back to its node", k)
		}
	}
	e.ask(t, mine[0])
}

func TestPoolEjectsSlowNode(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 3, func(c *Config) { c.UpstreamTimeout = 500 * time.Millisecond })
	p := e.pool
	slow := p.nodes[0]
	for _, n := range p.nodes[1:] {
		for _, k := range e.keysOf(n, 3) {
			e.ask(t, k) // the others' latency to compare with
		}
	}
	e.server(slow).SetDelay(120 * time.Millisecond)
	mine := e.keysOf(slow, slowMinSamples)
	for _, k := range mine {
		e.ask(t, k) // answered, slowly: not a failure
	}
	if slow.healthy.Load() {
		t.Fatalf("a node with latency EWMA %v is still healthy", time.Duration(slow.ewma.Load()))
	}
	if got := e.counter(t, p.pm.ejections, slow.addr, reasonSlow); got != 1 {
		t.Errorf("ejections{slow} = %d, want 1", got)
	}
	if got := testutil.ToFloat64(p.metrics.upstreamQueries.WithLabelValues(slow.addr, resultOK)); got != slowMinSamples {
		t.Errorf("ok attempts %v, want %d", got, slowMinSamples)
	}

	// Alive but still slow: checks succeed, but do not readmit it.
	ctx := context.Background()
	for range readmitChecks + 1 {
		p.checkOnce(ctx)
	}
	if slow.healthy.Load() {
		t.Fatal("readmitted while still slow")
	}
	e.server(slow).SetDelay(0)
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
	e.server(last).SetBehavior(cdnsim.Silent)
	e.ask(t, key)

	// Every node ejected (only possible by hand: the last one never is): all are still asked.
	for _, n := range p.nodes {
		n.healthy.Store(false)
	}
	p.table.Store(newRingTable(p.prefs, p.nodes))
	if got := p.order(key, nil); len(got) != len(p.nodes) {
		t.Fatalf("order with every node ejected: %v", got)
	}
	e.ask(t, key)
}

func TestPoolHealthMetrics(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, 2, nil)
	e.pool.eject(e.pool.nodes[0], reasonErrors)
	e.ask(t, "k")
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
		"httpdns_upstream_checks_total", "httpdns_upstream_queries_total", "httpdns_upstream_duration_seconds"} {
		if !names[n] {
			t.Errorf("%s not exported", n)
		}
	}
	if healthy[e.pool.nodes[0].addr] != 0 || healthy[e.pool.nodes[1].addr] != 1 {
		t.Errorf("node_healthy = %v", healthy)
	}
	if got := testutil.ToFloat64(e.pool.pm.ejections.WithLabelValues(e.pool.nodes[0].addr, reasonErrors)); got != 1 {
		t.Errorf("ejections = %v", got)
	}
}
