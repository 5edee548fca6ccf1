package prober_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/httpdns/httpdns/prober"
)

// memSink keeps observations in memory; with cancelAfter set it cancels
// the run once that many were written, like a kill in mid-run.
type memSink struct {
	mu          sync.Mutex
	obs         []prober.Observation
	cancelAfter int
	cancel      context.CancelFunc
}

func (s *memSink) Write(o prober.Observation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.obs = append(s.obs, o)
	if s.cancelAfter > 0 && len(s.obs) >= s.cancelAfter {
		s.cancel()
	}
	return nil
}

func (s *memSink) all() []prober.Observation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]prober.Observation(nil), s.obs...)
}

// fastProbe is a probe configuration for loopback tests: no rate limit,
// short timeouts.
func fastProbe(upstreams []string, names ...string) prober.ProbeConfig {
	return prober.ProbeConfig{Upstreams: upstreams, Domains: names, Rate: -1, Timeout: 500 * time.Millisecond}
}

func TestProbeUsesScopes(t *testing.T) {
	t.Parallel()
	tw := newTestWorld(t, 512)
	units := tw.w.Subnets()
	sink := &memSink{}
	st, err := prober.Probe(context.Background(), fastProbe([]string{tw.srv.Addr()}, tw.names...), units, nil, sink)
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if st.Failed != 0 || st.Answered != len(sink.all()) || st.Queries != st.Answered {
		t.Errorf("stats %+v: want no failure, one observation and one query per answer", st)
	}
	// An echo CDN gives no scope to save probes with; an honest one with
	// /20 blocks answers for sixteen /24s at once.
	if got := tw.srv.QueriesFor("pay.cdn-e.test"); got != int64(len(units)) {
		t.Errorf("echo name asked %d times, want once per /24 (%d)", got, len(units))
	}
	if got := tw.srv.QueriesFor("img.cdn-a.test"); got > int64(len(units)/4) {
		t.Errorf("honest /20 name asked %d times for %d /24s: scopes not used", got, len(units))
	}
	// cdn-c cuts some /24s into /26s: those get probed inside.
	inside := map[netip.Prefix]bool{}
	for _, o := range sink.all() {
		if o.Subnet.Bits() > 24 && o.Domain == "static.cdn-c.test" {
			p, _ := o.Subnet.Addr().Prefix(24)
			inside[p] = true
		}
	}
	for _, b := range tw.w.Blocks("cdn-c") {
		for _, p := range b.Prefixes {
			if p.Addr().Is4() && p.Bits() > 24 {
				if parent, _ := p.Addr().Prefix(24); !inside[parent] {
					t.Errorf("split /24 %s (piece %s) was not probed inside", parent, p)
				}
			}
		}
	}
	if len(inside) == 0 || st.FollowUps == 0 {
		t.Errorf("no probe inside a /24 (follow-ups %d)", st.FollowUps)
	}
}

// TestProbeRecordsWhatUpstreamsSay checks every observation against the
// simulated authoritative's own answer: IPv4 and IPv6 subnets, A and AAAA,
// a CNAME chain, an NXDOMAIN and a name without AAAA.
func TestProbeRecordsWhatUpstreamsSay(t *testing.T) {
	t.Parallel()
	tw := newTestWorld(t, 512)
	units := tw.w.Subnets()[:40]
	for _, r := range tw.w.Regions()[:3] {
		v6 := r.Prefixes[len(r.Prefixes)-1]
		units = append(units, netip.PrefixFrom(v6.Addr(), 56), netip.PrefixFrom(v6.Addr(), 56).Masked())
	}
	cfg := fastProbe([]string{tw.srv.Addr()}, "www.shop.test", "m.cdn-d.test", "nope.portal.test", "ntp.portal.test")
	cfg.Qtypes = []uint16{dns.TypeA, dns.TypeAAAA}
	sink := &memSink{}
	if _, err := prober.Probe(context.Background(), cfg, units, nil, sink); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, o := range sink.all() {
		ips, scope, _, rcode := tw.w.Answer(o.Domain, o.Qtype, o.Subnet)
		if !slices.Equal(o.Answers, ips) || o.Scope != scope || o.Rcode != rcode {
			t.Errorf("%s %s %d: observed %v scope %d rcode %d, authoritative says %v scope %d rcode %d",
				o.Subnet, o.Domain, o.Qtype, o.Answers, o.Scope, o.Rcode, ips, scope, rcode)
		}
		kinds[fmt.Sprintf("v6=%v qtype=%d rcode=%d empty=%v", o.Subnet.Addr().Is6(), o.Qtype, o.Rcode, len(o.Answers) == 0)] = true
	}
	for _, want := range []string{"v6=true qtype=28 rcode=0 empty=false", "v6=false qtype=1 rcode=3 empty=true",
		"v6=false qtype=28 rcode=0 empty=true"} {
		if !kinds[want] {
			t.Errorf("no observation of kind %q among %v", want, kinds)
		}
	}
}

func TestProbeSkipsWhatTheRoundHas(t *testing.T) {
	t.Parallel()
	tw := newTestWorld(t, 512)
	units := tw.w.Subnets()
	cfg := fastProbe([]string{tw.srv.Addr()}, "pay.cdn-e.test", "static.cdn-c.test")
	cfg.Round = "round-1"
	first := &memSink{}
	if _, err := prober.Probe(context.Background(), cfg, units, nil, first); err != nil {
		t.Fatal(err)
	}
	before := tw.srv.Queries()
	again := &memSink{}
	st, err := prober.Probe(context.Background(), cfg, units, first.all(), again)
	if err != nil {
		t.Fatal(err)
	}
	if n := tw.srv.Queries() - before; n != 0 || len(again.all()) != 0 {
		t.Errorf("re-run of a finished round sent %d queries and made %d observations", n, len(again.all()))
	}
	if st.Skipped != st.Planned {
		t.Errorf("re-run skipped %d of %d planned probes", st.Skipped, st.Planned)
	}
	cfg.Round = "round-2"
	st, err = prober.Probe(context.Background(), cfg, units, first.all(), &memSink{})
	if err != nil || st.Answered == 0 {
		t.Errorf("a new round probed %d (err %v), want a fresh round", st.Answered, err)
	}
}

func TestProbeFailsOver(t *testing.T) {
	t.Parallel()
	for _, b := range []cdnsim.Behavior{cdnsim.ServFail, cdnsim.Refuse, cdnsim.BadECS, cdnsim.Silent} {
		t.Run(b.String(), func(t *testing.T) {
			t.Parallel()
			tw := newTestWorld(t, 512)
			broken := cdnsim.StartTest(t, tw.w)
			broken.SetBehavior(b)
			cfg := fastProbe([]string{broken.Addr(), tw.srv.Addr()}, "pay.cdn-e.test")
			cfg.Timeout, cfg.Concurrency = 100*time.Millisecond, 8
			// A clock that stands still: once passed over, the broken node stays so however long
			// the run takes on a loaded machine (on the wall clock it would be back after 5 s).
			stopped := time.Now()
			cfg.Now = func() time.Time { return stopped }
			units := tw.w.Subnets()[:400]
			st, err := prober.Probe(context.Background(), cfg, units, nil, &memSink{})
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if st.Answered != len(units) || st.Failed != 0 {
				t.Errorf("stats %+v, want every probe answered by the good node", st)
			}
			// Half the probes pick the broken node first, until it is
			// passed over after a few failures.
			if n := broken.Queries(); n == 0 || n > 40 {
				t.Errorf("the broken node got %d of %d probes, want a few", n, len(units))
			}
		})
	}
}

func TestProbeTruncatedRetriesOverTCP(t *testing.T) {
	t.Parallel()
	tw := newTestWorld(t, 512)
	tw.srv.SetBehavior(cdnsim.Truncate)
	sink := &memSink{}
	units := tw.w.Subnets()[:20]
	st, err := prober.Probe(context.Background(), fastProbe([]string{tw.srv.Addr()}, "pay.cdn-e.test"), units, nil, sink)
	if err != nil || st.Answered != len(units) {
		t.Fatalf("Probe = %+v, %v; want every probe answered over TCP", st, err)
	}
	for _, o := range sink.all() {
		if len(o.Answers) == 0 {
			t.Errorf("%s: empty answer from TCP", o.Subnet)
		}
	}
}

func TestProbeCountsFailuresWithoutStopping(t *testing.T) {
	t.Parallel()
	tw := newTestWorld(t, 512)
	units := tw.w.Subnets()[:80]
	// The simulated authoritative refuses names outside its zone: every
	// probe of example.com fails, between probes that succeed.
	cfg := fastProbe([]string{tw.srv.Addr()}, "pay.cdn-e.test", "example.com")
	cfg.Retries = -1
	st, err := prober.Probe(context.Background(), cfg, units, nil, &memSink{})
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if st.Answered != len(units) || st.Failed != len(units) {
		t.Errorf("stats %+v, want %d answered and %d failed", st, len(units), len(units))
	}
}

// closedPort returns a 127.0.0.1 address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

func TestProbeStopsWhenNoUpstreamAnswers(t *testing.T) {
	t.Parallel()
	tw := newTestWorld(t, 512)
	silent := cdnsim.StartTest(t, tw.w)
	silent.SetBehavior(cdnsim.Silent)
	tests := []struct {
		name    string
		cfg     prober.ProbeConfig
		mention string
	}{
		{"closed port, defaults", prober.ProbeConfig{Upstreams: []string{closedPort(t)}, Domains: tw.names}, "refused"},
		{"silent node", prober.ProbeConfig{Upstreams: []string{silent.Addr()}, Domains: tw.names,
			Timeout: 100 * time.Millisecond, AbortAfter: 10}, silent.Addr()},
		{"replies discarded", prober.ProbeConfig{Upstreams: []string{tw.srv.Addr()}, Domains: []string{"example.com"},
			Retries: -1}, "REFUSED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := prober.Probe(context.Background(), tt.cfg, tw.w.Subnets(), nil, &memSink{})
			if !errors.Is(err, prober.ErrNoUpstream) {
				t.Fatalf("Probe error = %v, want ErrNoUpstream", err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v to give up", d)
			}
		})
	}
}

func TestProbeShowsProgress(t *testing.T) {
	t.Parallel()
	tw := newTestWorld(t, 512)
	for _, term := range []bool{true, false} {
		var buf bytes.Buffer
		cfg := fastProbe([]string{tw.srv.Addr()}, "pay.cdn-e.test")
		cfg.Progress, cfg.IsTerminal = &buf, term
		if _, err := prober.Probe(context.Background(), cfg, tw.w.Subnets()[:30], nil, &memSink{}); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		want := "probe: 30/30 (100.0%)"
		if term {
			want = "\r[" + strings.Repeat("=", 30) + "] 30/30 100.0%"
		}
		if !strings.Contains(out, want) || !strings.HasSuffix(out, "\n") {
			t.Errorf("terminal=%v: progress %q lacks %q", term, out, want)
		}
	}
}

func TestProbeConfigErrors(t *testing.T) {
	t.Parallel()
	_, err := prober.Probe(context.Background(), prober.ProbeConfig{Upstreams: []string{"no-port"}, Domains: []string{"a..b"}},
		nil, nil, &memSink{})
	if !errors.Is(err, prober.ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
	for _, want := range []string{"no-port", "a..b"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not report %q", err, want)
		}
	}
}
