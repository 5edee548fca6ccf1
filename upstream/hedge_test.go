package upstream

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// recordingExchanger notes how every exchange through it ended, by address.
type recordingExchanger struct {
	next exchanger
	mu   sync.Mutex
	ends map[string]map[string]int // addr -> attempt result -> count
}

func (r *recordingExchanger) Exchange(ctx context.Context, m *dns.Msg, addr string) (*dns.Msg, error) {
	reply, err := r.next.Exchange(ctx, m, addr)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ends[addr] == nil {
		r.ends[addr] = map[string]int{}
	}
	r.ends[addr][attemptResult(err)]++
	return reply, err
}

func (r *recordingExchanger) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ends = map[string]map[string]int{}
}

// count is how many exchanges with addr ended with result; addr "" counts every address but skip.
func (r *recordingExchanger) count(addr, skip, result string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for a, ends := range r.ends {
		if a == addr || (addr == "" && a != skip) {
			n += ends[result]
		}
	}
	return n
}

func TestPoolHedgesLateNode(t *testing.T) {
	t.Parallel()
	const late = 3 // queries after the node slows down
	tests := []struct {
		name     string
		hedgeMin time.Duration
		hedged   bool
	}{
		{"hedging", 0, true},
		{"hedging off", -1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newPoolEnv(t, 3, func(c *Config) {
				c.AttemptTimeout = 300 * time.Millisecond
				c.HedgeMin = tc.hedgeMin
			})
			p := e.pool
			rec := &recordingExchanger{next: p.udp, ends: map[string]map[string]int{}}
			p.udp = rec
			slow := p.nodes[2]
			keys := e.keysOf(slow, 2*hedgeMinSamples+late)
			for _, k := range keys[:2*hedgeMinSamples] {
				e.ask(t, k) // its recent latencies: the p95 hedging waits for
			}
			if slow.p95.Load() == 0 {
				t.Fatal("no p95 after the warm-up")
			}
			// A warm-up query late past the p95 may have been hedged already: count from here.
			won0 := e.counter(t, p.m.hedges, slow.addr, "won")
			lost0 := e.counter(t, p.m.hedges, slow.addr, "lost")
			cancelled0 := e.counter(t, p.m.queries, slow.addr, resultCancelled)
			e.server(slow).setDelay(60 * time.Millisecond)
			rec.reset()
			p.hedges.init() // a full hedge budget, whatever the warm-up spent
			for _, k := range keys[2*hedgeMinSamples:] {
				e.ask(t, k)
			}
			won := e.counter(t, p.m.hedges, slow.addr, "won") - won0
			lost := e.counter(t, p.m.hedges, slow.addr, "lost") - lost0
			if !tc.hedged {
				if won+lost != 0 || rec.count(slow.addr, "", resultOK) != late {
					t.Errorf("hedges won %d lost %d, the slow node answered %d of %d", won, lost,
						rec.count(slow.addr, "", resultOK), late)
				}
				return
			}
			// Every answer came from another node; the slow node's attempts were cancelled.
			if won != late || lost != 0 {
				t.Errorf("hedges won %d lost %d, want %d won", won, lost, late)
			}
			if got := rec.count("", slow.addr, resultOK); got != late {
				t.Errorf("other nodes answered %d, want %d", got, late)
			}
			if got := rec.count(slow.addr, "", resultCancelled); got != late {
				t.Errorf("slow node attempts cancelled: %d, want %d", got, late)
			}
			if got := e.counter(t, p.m.queries, slow.addr, resultCancelled) - cancelled0; got != late {
				t.Errorf("queries{cancelled} = %d, want %d", got, late)
			}
			if !slow.healthy.Load() {
				t.Error("a node hedged against was ejected")
			}
		})
	}
}

func TestHedgeDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		hedgeMin time.Duration
		p95      time.Duration
		healthy  int
		hasNext  bool
		want     time.Duration
	}{
		{"p95 above the minimum", 2 * time.Millisecond, 7 * time.Millisecond, 3, true, 7 * time.Millisecond},
		{"the minimum", 2 * time.Millisecond, 300 * time.Microsecond, 3, true, 2 * time.Millisecond},
		{"no p95 yet", 2 * time.Millisecond, 0, 3, true, 0},
		{"no next node", 2 * time.Millisecond, 7 * time.Millisecond, 3, false, 0},
		{"one healthy node", 2 * time.Millisecond, 7 * time.Millisecond, 1, true, 0},
		{"disabled", -1, 7 * time.Millisecond, 3, true, 0},
		{"past the attempt timeout", 2 * time.Millisecond, time.Second, 3, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := offlinePool(t, 3)
			p.cfg.HedgeMin = tc.hedgeMin
			for _, n := range p.nodes[tc.healthy:] {
				n.healthy.Store(false)
			}
			p.table.Store(newRingTable(p.prefs, p.nodes))
			n := p.nodes[0]
			n.p95.Store(int64(tc.p95))
			if got := p.hedgeDelay(n, tc.hasNext); got != tc.want {
				t.Errorf("hedgeDelay = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPoolChecksNodeLateForHedges: a node hedged against gets no failures from live traffic (its
// attempts are cancelled once the other node answers), so active checks find out why it was late.
func TestPoolChecksNodeLateForHedges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		behave    func(s *testNode)
		reason    string // the ejection expected, or "" for none
		maxChecks int
	}{
		{"silent", func(s *testNode) { s.set(silent) }, reasonErrors, ejectMinAttempts},
		{"slow", func(s *testNode) { s.setDelay(100 * time.Millisecond) }, reasonSlow, 8},
		{"late once", func(s *testNode) { s.setDelay(0) }, "", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newPoolEnv(t, 3, func(c *Config) { c.AttemptTimeout = 150 * time.Millisecond })
			p := e.pool
			late := p.nodes[1]
			keys := e.keysOf(late, 2*hedgeMinSamples+1)
			for _, k := range keys[:2*hedgeMinSamples] {
				e.ask(t, k)
			}
			e.server(late).setDelay(60 * time.Millisecond)
			p.hedges.init()
			e.ask(t, keys[2*hedgeMinSamples])
			if !late.suspect.Load() {
				t.Fatal("a node that lost a hedge is not suspect")
			}
			tc.behave(e.server(late))
			checks := 0
			for late.healthy.Load() && late.suspect.Load() && checks < tc.maxChecks {
				p.checkOnce(context.Background())
				checks++
			}
			if tc.reason == "" {
				if !late.healthy.Load() || late.suspect.Load() {
					t.Fatalf("after a fast check: healthy %v suspect %v", late.healthy.Load(), late.suspect.Load())
				}
				p.checkOnce(context.Background())
				if got := e.counter(t, p.m.checks, late.addr, resultOK); got != 1 {
					t.Errorf("%d checks of a node no longer suspect, want 1", got)
				}
				return
			}
			if late.healthy.Load() {
				t.Fatalf("still healthy after %d checks, ewma %v", checks, time.Duration(late.ewma.Load()))
			}
			if got := e.counter(t, p.m.ejections, late.addr, tc.reason); got != 1 {
				t.Errorf("ejections{%s} = %d, want 1", tc.reason, got)
			}
		})
	}
}
