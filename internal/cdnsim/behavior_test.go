package cdnsim_test

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/httpdns/httpdns/internal/cdnsim"
)

func TestServerBehaviors(t *testing.T) {
	t.Parallel()
	w := newWorld(t, cdnsim.DefaultConfig())
	ecs := pfx(w.ClientIn(w.Subnets()[3], 0), 24)
	tests := []struct {
		behavior cdnsim.Behavior
		network  string
		check    func(t *testing.T, r *dns.Msg, err error)
	}{
		{cdnsim.Silent, "udp", wantTimeout},
		{cdnsim.Silent, "tcp", wantTimeout},
		{cdnsim.ServFail, "udp", wantRcode(dns.RcodeServerFailure)},
		{cdnsim.ServFail, "tcp", wantRcode(dns.RcodeServerFailure)},
		{cdnsim.Refuse, "udp", wantRcode(dns.RcodeRefused)},
		{cdnsim.Truncate, "udp", func(t *testing.T, r *dns.Msg, err error) {
			if err != nil || !r.Truncated || len(r.Answer) != 0 {
				t.Errorf("got %v, %v; want TC=1 and no answer", r, err)
			}
		}},
		{cdnsim.Truncate, "tcp", wantAnswer},
		{cdnsim.Normal, "udp", wantAnswer},
		{cdnsim.BadECS, "udp", func(t *testing.T, r *dns.Msg, err error) {
			wantAnswer(t, r, err)
			if e := replyECS(r); e == nil || e.Address.Equal(net.IP(ecs.Addr().AsSlice())) {
				t.Errorf("ECS %v echoes the query's %s", e, ecs)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.behavior.String()+"/"+tt.network, func(t *testing.T) {
			t.Parallel()
			s := cdnsim.StartTest(t, w)
			s.SetBehavior(tt.behavior)
			timeout := 5 * time.Second
			if tt.behavior == cdnsim.Silent {
				timeout = 300 * time.Millisecond // long enough to show that no reply comes
			}
			r, err := tryExchange(tt.network, s.Addr(), query("img.cdn-a.test", dns.TypeA, ecs, 1232), timeout)
			tt.check(t, r, err)
			if s.Queries() != 1 {
				t.Errorf("Queries() = %d, want 1", s.Queries())
			}
		})
	}
}

func wantTimeout(t *testing.T, r *dns.Msg, err error) {
	t.Helper()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("got %v, %v; want a timeout", r, err)
	}
}

func wantAnswer(t *testing.T, r *dns.Msg, err error) {
	t.Helper()
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Truncated {
		t.Errorf("got %v, %v; want one answer", r, err)
	}
}

func wantRcode(rcode int) func(*testing.T, *dns.Msg, error) {
	return func(t *testing.T, r *dns.Msg, err error) {
		t.Helper()
		if err != nil || r.Rcode != rcode || len(r.Answer) != 0 {
			t.Errorf("got %v, %v; want rcode %d", r, err, rcode)
		}
	}
}

func TestServerBadECSEcho(t *testing.T) {
	t.Parallel()
	w := newWorld(t, cdnsim.DefaultConfig())
	s := cdnsim.StartTest(t, w)
	s.SetBehavior(cdnsim.BadECS)
	client := w.ClientIn(w.Subnets()[0], 0)
	tests := []struct {
		name string
		ecs  netip.Prefix
		want func(e *dns.EDNS0_SUBNET) bool
	}{
		{"address changed", pfx(client, 24), func(e *dns.EDNS0_SUBNET) bool {
			return e.Family == 1 && e.SourceNetmask == 24 && !e.Address.Equal(net.IP(pfx(client, 24).Addr().AsSlice()))
		}},
		{"family swapped", pfx(client, 0), func(e *dns.EDNS0_SUBNET) bool { return e.Family == 2 }},
		{"ipv6 family swapped", netip.MustParsePrefix("::/0"), func(e *dns.EDNS0_SUBNET) bool { return e.Family == 1 }},
		{"added to a query without", netip.Prefix{}, func(e *dns.EDNS0_SUBNET) bool { return e.Family == 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := exchange(t, "udp", s.Addr(), query("api.cdn-a.test", dns.TypeA, tt.ecs, 1232))
			if e := replyECS(r); e == nil || !tt.want(e) {
				t.Errorf("ECS %v for query ECS %s", e, tt.ecs)
			}
		})
	}
}

func TestServerTruncatesToEDNSSize(t *testing.T) {
	t.Parallel()
	s := cdnsim.StartTest(t, newWorld(t, cdnsim.DefaultConfig()))
	tests := []struct {
		name    string
		network string
		size    uint16
		wantTC  bool
	}{
		{"udp without edns", "udp", 0, true},
		{"udp edns 512", "udp", 512, true},
		{"udp edns 4096", "udp", 4096, false},
		{"tcp without edns", "tcp", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := exchange(t, tt.network, s.Addr(), query("pool.portal.test", dns.TypeA, netip.Prefix{}, tt.size))
			if r.Truncated != tt.wantTC || (len(r.Answer) == 40) == tt.wantTC {
				t.Errorf("TC %v with %d records, want TC %v", r.Truncated, len(r.Answer), tt.wantTC)
			}
			r.Compress = true
			if packed, _ := r.Pack(); tt.network == "udp" && len(packed) > max(512, int(tt.size)) {
				t.Errorf("UDP reply of %d bytes exceeds %d", len(packed), max(512, int(tt.size)))
			}
		})
	}
}

func TestServerCountsQueries(t *testing.T) {
	t.Parallel()
	s := cdnsim.StartTest(t, newWorld(t, cdnsim.DefaultConfig()))
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			name := []string{"img.cdn-a.test", "IMG.cdn-a.TEST", "api.cdn-a.test", "nope.test", "example.com"}[i%5]
			if _, err := tryExchange("udp", s.Addr(), query(name, dns.TypeA, netip.Prefix{}, 0), 2*time.Second); err != nil {
				t.Errorf("exchange %s: %v", name, err)
			}
		})
	}
	wg.Wait()
	for name, want := range map[string]int64{"img.cdn-a.test": 20, "img.cdn-a.test.": 20, "API.cdn-a.test": 10,
		"nope.test": 10, "example.com": 10, "video.cdn-b.test": 0} {
		if got := s.QueriesFor(name); got != want {
			t.Errorf("QueriesFor(%s) = %d, want %d", name, got, want)
		}
	}
	if s.Queries() != 50 {
		t.Errorf("Queries() = %d, want 50", s.Queries())
	}
}

func TestServerDelay(t *testing.T) {
	t.Parallel()
	s := cdnsim.StartTest(t, newWorld(t, cdnsim.DefaultConfig()))
	const delay = 200 * time.Millisecond
	s.SetDelay(delay)
	q := query("www.portal.test", dns.TypeA, netip.Prefix{}, 0)
	if _, err := tryExchange("udp", s.Addr(), q, delay/4); err == nil {
		t.Error("answer arrived before the delay")
	}
	start := time.Now()
	if _, err := tryExchange("tcp", s.Addr(), q, 5*time.Second); err != nil {
		t.Fatalf("delayed exchange: %v", err)
	}
	if elapsed := time.Since(start); elapsed < delay {
		t.Errorf("answer after %v, want at least %v", elapsed, delay)
	}
	s.SetDelay(0)
	wantAnswer(t, exchange(t, "udp", s.Addr(), query("img.cdn-a.test", dns.TypeA, netip.Prefix{}, 0)), nil)
}

func TestServeAndClose(t *testing.T) {
	t.Parallel()
	w := newWorld(t, cdnsim.DefaultConfig())
	s, err := cdnsim.Serve(w, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := cdnsim.Serve(w, s.Addr()); err == nil {
		t.Error("Serve on a busy address succeeded")
	}
	if _, err := cdnsim.Serve(w, "not an address"); err == nil {
		t.Error("Serve on a bad address succeeded")
	}
	s.SetDelay(time.Hour) // Close must not wait for delayed replies
	go tryExchange("udp", s.Addr(), query("img.cdn-a.test", dns.TypeA, netip.Prefix{}, 0), time.Second)
	for deadline := time.Now().Add(5 * time.Second); s.Queries() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the delayed query never arrived")
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := tryExchange("tcp", s.Addr(), query("img.cdn-a.test", dns.TypeA, netip.Prefix{}, 0), 200*time.Millisecond); err == nil {
		t.Error("closed server still answers over TCP")
	}
}
